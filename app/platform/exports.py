"""CSV and XLSX export of a grid, streamed in constant memory.

The rows come from the grid's own datamodel query (row scope, filters, sort),
read in batches from a server-side cursor. Plain and many-to-one columns are
selected as SQL columns (fast path); a column that is a Python property makes
the export read whole objects instead (slower, same result).
"""
import csv
import enum
import io
import os
import re
import tempfile
from datetime import date, datetime

from flask import Response, current_app, stream_with_context
from flask_babel import gettext
from sqlalchemy.orm import aliased

LABEL_ATTRIBUTES = ("name", "title", "reference", "username")


def _label_attribute(model):
    for name in LABEL_ATTRIBUTES:
        if name in model.__mapper__.columns:
            return name
    return None


def _sql_columns(datamodel, query, names):
    """(query with joins, [column expressions]) or (None, None) when a name is not SQL."""
    model = datamodel.obj
    expressions, aliases = [], {}
    for name in names:
        head, _, tail = name.partition(".")
        if not tail and head in model.__mapper__.columns:
            expressions.append(getattr(model, head))
            continue
        if not datamodel.is_relation_many_to_one(head):
            return None, None
        related = datamodel.get_related_model(head)
        attribute = tail or _label_attribute(related)
        if not attribute or "." in attribute or attribute not in related.__mapper__.columns:
            return None, None
        if head not in aliases:
            aliases[head] = aliased(related)
            query = query.outerjoin(aliases[head], getattr(model, head))
        expressions.append(getattr(aliases[head], attribute))
    return query, expressions


def iter_rows(datamodel, names, filters, order_column="", order_direction=""):
    """Yield one tuple of raw values per row the grid shows, in its order."""
    batch = current_app.config["EXPORT_BATCH_SIZE"]
    query = datamodel.apply_all(datamodel.session.query(datamodel.obj), filters, order_column, order_direction)
    joined, expressions = _sql_columns(datamodel, query, names)
    if expressions is not None:
        yield from joined.with_entities(*expressions).execution_options(yield_per=batch)
        return
    for item in query.execution_options(yield_per=batch):
        values = []
        for name in names:
            value = item
            for part in name.split("."):
                value = getattr(value, part, None) if value is not None else None
            values.append(value() if callable(value) else value)
        yield tuple(values)


class _Formatter:
    """Turns raw values into what a reader expects, caching translated labels."""

    def __init__(self):
        self.labels = {}
        self.yes, self.no = gettext("Yes"), gettext("No")

    def text(self, value):
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if value is True:
            return self.yes
        if value is False:
            return self.no
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M")
        if isinstance(value, (enum.Enum, date)) or not isinstance(value, (int, float)):
            label = self.labels.get(value)
            if label is None:
                label = self.labels[value] = value.isoformat() if isinstance(value, date) else str(value)
            return label
        return value

    def cell(self, value):
        if value is None or isinstance(value, (str, int, float, datetime, date)) and not isinstance(value, bool):
            return value
        return self.text(value)


def file_name(grid_name, extension, today=None):
    slug = re.sub(r"[^A-Za-z0-9]+", "-", _ascii(grid_name)).strip("-").lower() or "export"
    return f"{slug}-{(today or date.today()).isoformat()}.{extension}"


def _ascii(text):
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def csv_chunks(headers, rows, delimiter=";"):
    """CSV text in chunks of about a thousand rows, with a BOM so Excel reads UTF-8."""
    fmt = _Formatter()
    text = fmt.text
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(headers)
    for count, row in enumerate(rows, 1):
        writer.writerow([text(v) for v in row])
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_xlsx(path, sheet_name, headers, rows):
    """Write an XLSX file row by row (XlsxWriter's constant-memory mode)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(path, {"constant_memory": True, "default_date_format": "yyyy-mm-dd hh:mm",
                                          "strings_to_numbers": False, "strings_to_formulas": False,
                                          "strings_to_urls": False, "tmpdir": os.path.dirname(path)})
    sheet = workbook.add_worksheet(sheet_name[:31] or "Export")
    bold = workbook.add_format({"bold": True})
    sheet.write_row(0, 0, headers, bold)
    cell = _Formatter().cell
    write_row = sheet.write_row
    for index, row in enumerate(rows, 1):
        write_row(index, 0, [cell(v) for v in row])
    workbook.close()


def _stream_file(path, chunk_size=256 * 1024):
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk
    finally:
        os.unlink(path)


def export_response(datamodel, columns, filters, order_column, order_direction, fmt, grid_name):
    """The HTTP response of a grid export: `columns` is [(name, header), ...]."""
    names = [name for name, _ in columns]
    headers = [header for _, header in columns]
    rows = iter_rows(datamodel, names, filters, order_column, order_direction)
    if fmt == "csv":
        delimiter = current_app.config.get("EXPORT_CSV_DELIMITER", ";")
        response = Response(stream_with_context(csv_chunks(headers, rows, delimiter)),
                            mimetype="text/csv; charset=utf-8")
    else:
        handle, path = tempfile.mkstemp(suffix=".xlsx")
        os.close(handle)
        write_xlsx(path, grid_name, headers, rows)
        response = Response(_stream_file(path), mimetype=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name(grid_name, fmt)}"'
    return response
