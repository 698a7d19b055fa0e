"""CSV and XLSX export of a grid, streamed in constant memory; and the export job, which
writes a large grid export or a desk's own document (a PDF list, an archive).

The rows come from the grid's own datamodel query (row scope, filters, sort),
read in batches from a server-side cursor. Plain, hybrid and many-to-one columns
are selected as SQL columns (fast path); a column that is a plain Python property
makes the export read whole objects instead (several times slower, same result):
give such a property an SQL expression (a hybrid property) to keep the fast path.
On PostgreSQL the fast path's CSV, and its XLSX sheet's XML, are written by the
database itself (COPY), with the cells the Python writers would write (labels, dates,
neutralised or escaped text).
"""
import csv
import enum
import io
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from datetime import date, datetime, timedelta
from itertools import islice
from operator import attrgetter, methodcaller
from urllib.parse import parse_qsl, urlencode

from flask import Response, current_app, g, stream_with_context
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import force_locale, get_locale, gettext
from psycopg import sql as psycopg_sql
from sqlalchemy import (BigInteger, Boolean, Date, DateTime, Enum, Float, Integer, Numeric, String, and_, case, cast,
                        false, func, literal, not_, null, or_, select, text, type_coerce)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import aliased
from sqlalchemy.orm.instrumentation import manager_of_class

from ..extensions import db
from ..models import ExportFile, ExportState, utcnow
from ..security import ROLE_LABELS, role_label, signed_in_person
from . import clock, jobs, notifications

LABEL_ATTRIBUTES = ("name", "title", "reference", "username")


def label_attribute(model):
    """The column that names a row of `model` for people (name, title, reference, login)."""
    for name in LABEL_ATTRIBUTES:
        if name in model.__mapper__.columns:
            return name
    return None


def _is_sql(model, name) -> bool:
    """A column, a column_property or a hybrid property (whose expression is SQL)."""
    return name in model.__mapper__.columns or isinstance(
        model.__mapper__.all_orm_descriptors.get(name), hybrid_property)


def _label_expression(related, alias):
    """The SQL of how a related row is written: a person by their full name (as
    `str(user)`), a role by its label in the reader's language (as `str(role)`), a
    row whose model has a hybrid `label` (its str) by that, any other row by its label
    attribute when that is its `str`; else None."""
    if related is User:
        return func.trim(alias.first_name + " " + alias.last_name, type_=String)
    if related is Role:
        return case({name: role_label(name) for name in ROLE_LABELS}, value=alias.name, else_=alias.name)
    if isinstance(related.__mapper__.all_orm_descriptors.get("label"), hybrid_property):
        return getattr(alias, "label")  # a model's own label in SQL, its str (TicketType: "event — type")
    attribute = label_attribute(related)
    return getattr(alias, attribute) if attribute and _str_is_label(related, attribute) else None


@cache
def _str_is_label(model, attribute) -> bool:
    """Whether a row of `model` is written (str) as its `attribute` alone, as the grid
    shows it; tried on a row made in memory. A `__str__` that also reads other values
    ("event — name") leaves the column to Python."""
    row = manager_of_class(model).new_instance()
    setattr(row, attribute, "\x00label")
    try:
        return str(row) == "\x00label"
    except Exception:  # a __str__ that needs more than the attribute (None.name, a date's format)
        return False


def _sql_columns(datamodel, query, names):
    """(query with joins, [column expressions]) or (None, None) when a name is not SQL."""
    model = datamodel.obj
    expressions, aliases = [], {}
    for name in names:
        head, _, tail = name.partition(".")
        if not tail and _is_sql(model, head):
            expressions.append(getattr(model, head))
            continue
        if not datamodel.is_relation_many_to_one(head):
            return None, None
        related = datamodel.get_related_model(head)
        if tail and ("." in tail or not _is_sql(related, tail)):
            return None, None
        if head not in aliases:
            aliases[head] = aliased(related)
            query = query.outerjoin(aliases[head], getattr(model, head))
        expression = getattr(aliases[head], tail) if tail else _label_expression(related, aliases[head])
        if expression is None:
            return None, None
        expressions.append(expression)
    return query, expressions


def _sql_query(datamodel, names, filters, order_column, order_direction):
    """The grid's query (row scope, filters and sort included), that query joined to
    what its columns read, and one SQL expression per column; the last two are None
    when a column is not SQL (the ORM path then)."""
    query = datamodel.apply_all(datamodel.session.query(datamodel.obj), filters, order_column, order_direction)
    return (query, *_sql_columns(datamodel, query, names))


def csv_delimiter() -> str:
    return current_app.config.get("EXPORT_CSV_DELIMITER", ";")


CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The formats an export is written in (a grid's, or a desk's document's), and how they are served.
MIMETYPES = {"csv": CSV_MIMETYPE, "xlsx": XLSX_MIMETYPE, "pdf": "application/pdf", "zip": "application/zip",
             "tar.gz": "application/gzip"}


def _for_export(connection):
    """For this transaction only, on PostgreSQL: no JIT compiling, which costs a few
    hundred ms per query and gains nothing on a scan whose work per row is reading it
    out (measured on the XLSX's heavier rows too); and moments written as ISO text,
    which the CSV reads its minutes from."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL jit = off"))
        connection.execute(text("SET LOCAL DateStyle = 'ISO, YMD'"))


def iter_rows(datamodel, names, filters, order_column="", order_direction="", labels=None):
    """Yield one tuple of values per row the grid shows, in its order: raw values, but
    UTC moments in local time (app.platform.clock) and the codes of the columns of
    `labels` ({column: function}, a grid's `value_labels`) as labels, as the grid shows them."""
    query, joined, expressions = _sql_query(datamodel, names, filters, order_column, order_direction)
    rows = _raw_rows(datamodel, query, names, joined, expressions)
    local = clock.LocalMoments()

    def moments(column):  # a Python property's values: only its datetimes are moments
        return [local.one(value) if type(value) is datetime else value for value in column]

    transforms = {index: moments if mixed else local.column
                  for index, mixed in _moment_columns(datamodel.obj, names, expressions).items()}
    transforms.update({index: _labelled(labels[name]) for index, name in enumerate(names) if name in (labels or {})})
    if not transforms:
        yield from rows
        return
    while batch := list(islice(rows, 1000)):
        columns = list(zip(*batch))
        for index, transform in transforms.items():
            columns[index] = transform(columns[index])
        yield from zip(*columns)


def _labelled(label):
    """A column's codes as `label(code)` reads them (each code's label computed once)."""
    labels = {None: None}

    def column(codes):
        for code in set(codes) - labels.keys():
            labels[code] = label(code)
        return list(map(labels.__getitem__, codes))

    return column


def _moment_columns(model, names, expressions):
    """{index: mixed} of the columns that hold UTC moments: DateTime columns not marked
    LOCAL_TIME, and (`mixed`, checked value by value) Python properties, which may too."""
    moments = {}
    for index, name in enumerate(names):
        column = clock.column_of(model, name)
        if expressions is not None:
            kind = expressions[index].type
        elif column is not None:
            kind = column.type
        else:
            moments[index] = True
            continue
        if isinstance(kind, DateTime) and not (column is not None and clock.is_local_time(column)):
            moments[index] = False
    return moments


def _raw_rows(datamodel, query, names, joined, expressions):
    """The rows' raw values: selected as SQL columns, else read from whole objects."""
    batch = current_app.config["EXPORT_BATCH_SIZE"]
    if expressions is not None:
        # Executed as plain SQL on the session's connection (same transaction):
        # rows come without the ORM's per-row work, about twice as fast.
        connection = datamodel.session.connection()
        _for_export(connection)
        statement = joined.with_entities(*expressions).statement
        # Options of this statement only: set on the connection, they would stay on it.
        result = connection.execute(statement.execution_options(stream_results=True, yield_per=batch))
        try:
            for rows in result.partitions():  # a batch per fetch: no per-row fetch call
                yield from rows
        finally:
            result.close()
        return
    # 2.0-style execution: the legacy Query's uniquing refuses yield_per.
    for item in datamodel.session.execute(query.statement.execution_options(yield_per=batch)).scalars():
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
        if isinstance(value, str) and not isinstance(value, enum.Enum):  # a str-valued enum: its label
            return value
        if value is True:
            return self.yes
        if value is False:
            return self.no
        if isinstance(value, datetime):
            if value.tzinfo is None and value.year >= 1000:  # same text, much faster
                return value.isoformat(" ", "minutes")
            return value.strftime("%Y-%m-%d %H:%M")
        if isinstance(value, (enum.Enum, date)) or not isinstance(value, (int, float)):
            label = self.labels.get(value)
            if label is None:
                label = self.labels[value] = value.isoformat() if isinstance(value, date) else str(value)
            return label
        return value

    def cell(self, value):
        if value is None or isinstance(value, (str, int, float, datetime, date)) and not isinstance(
                value, (bool, enum.Enum)):
            return value
        return self.text(value)


def file_name(grid_name, extension, today=None):
    return f"{slug(grid_name) or 'export'}-{(today or clock.local_today()).isoformat()}.{extension}"


def slug(text) -> str:
    """`text` as a file name's part: ASCII letters and digits, lowercase, joined by dashes."""
    return re.sub(r"[^A-Za-z0-9]+", "-", _ascii(text)).strip("-").lower()


# Latin letters that no Unicode decomposition brings to ASCII (a name's Ł would be lost).
_UNDECOMPOSED = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss", "Æ": "AE",
                               "æ": "ae", "Œ": "OE", "œ": "oe", "Þ": "Th", "þ": "th", "ı": "i"})


def _ascii(text):
    return unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED)).encode("ascii", "ignore").decode()


# Values the csv module writes exactly as `_Formatter.text` would (None as "").
_CSV_PLAIN = frozenset((str, int, float, type(None)))
_TZINFO, _YEAR = attrgetter("tzinfo"), attrgetter("year")
_TO_MINUTE = methodcaller("isoformat", " ", "minutes")


#: What a spreadsheet reads as the start of a formula (or of a hidden cell break): a CSV
#: cell starting so is prefixed with an apostrophe, which the spreadsheet shows as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_STARTS_FORMULA = methodcaller("startswith", FORMULA_STARTS)


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _neutralised(column, only_text):
    """The column with its text cells neutralised (a list), or None when none needs it."""
    texts = column if only_text else [value for value in column if type(value) is str]
    if not any(map(_STARTS_FORMULA, texts)):
        return None
    return [neutralise(value) if type(value) is str else value for value in column]


def _text_rows(batch, text):
    """The rows of `batch` with each value as `text` writes it, text cells neutralised,
    converted column by column with C-level map() where possible (a few times faster
    than per value)."""
    columns = list(zip(*batch))
    for index, column in enumerate(columns):
        kinds = set(map(type, column))
        if kinds <= _CSV_PLAIN:
            pass  # the csv module writes these as `text` would
        elif kinds == {datetime} and set(map(_TZINFO, column)) == {None} and min(map(_YEAR, column)) >= 1000:
            columns[index] = list(map(_TO_MINUTE, column))  # = text(value) for these
            continue
        else:
            by_id = dict(zip(map(id, column), column))
            if len(by_id) * 4 <= len(column):  # few distinct objects: enums, booleans
                labels = {key: text(value) for key, value in by_id.items()}
                columns[index] = list(map(labels.__getitem__, map(id, column)))
            else:
                columns[index] = [text(value) for value in column]
        if str in kinds or not kinds <= _CSV_PLAIN:
            neutral = _neutralised(columns[index], kinds == {str})
            if neutral is not None:
                columns[index] = neutral
    return zip(*columns)


def csv_chunks(headers, rows, delimiter=";"):
    """CSV text in chunks of about a thousand rows, with a BOM so Excel reads UTF-8."""
    text = _Formatter().text
    buffer = io.StringIO()
    # CRLF (RFC 4180); it also makes the csv module quote a cell holding a lone "\r".
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(headers)
    rows = iter(rows)
    while batch := list(islice(rows, 1000)):
        writer.writerows(_text_rows(batch, text))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if rest := buffer.getvalue():
        yield rest


#: The code points of FORMULA_STARTS, for a test on a cell's first character in SQL.
_FORMULA_CODES = tuple(map(ord, FORMULA_STARTS))


def _cell_sql(expression, formatter):
    """SQL that writes `expression` as `csv_chunks` writes its value (labels of states
    and booleans, dates to the minute, text neutralised), or None for a type it does
    not write (the export then reads the rows in Python)."""
    kind = expression.type
    if isinstance(kind, Enum) and kind.enum_class is not None:  # before String: an Enum is one
        stored = type_coerce(expression, String)  # stored under the member's name
        return case(*((stored == member.name, neutralise(formatter.text(member))) for member in kind.enum_class),
                    else_=stored)
    if isinstance(kind, Boolean):
        return case((expression.is_(True), neutralise(formatter.yes)), (expression.is_(False), neutralise(formatter.no)))
    if isinstance(kind, DateTime) and not kind.timezone:  # "YYYY-MM-DD HH:MI:SS[.ffffff]" to the minute
        return func.left(cast(expression, String), 16)  # a third faster than to_char
    if isinstance(kind, Date):
        return cast(expression, String)
    if isinstance(kind, Integer):
        return cast(expression, String)
    if isinstance(kind, Numeric) and not isinstance(kind, Float) and kind.scale is not None:
        return _cell_sql(cast(expression, String), formatter)  # "12.50" as str(Decimal), neutralised as text
    if isinstance(kind, String):  # text, a concatenation, a person's full name
        return case((func.ascii(expression).in_(_FORMULA_CODES), "'" + expression), else_=expression)
    return None


COPY_CHUNK_BYTES = 256 * 1024


def _copy_columns(datamodel, names, filters, order_column, order_direction, labels):
    """(the grid's query joined to its columns, one SQL expression per column with UTC
    moments read in local time) for the database to write the export itself, or None
    when it cannot: not PostgreSQL, a column not SQL or with `labels` (a grid's
    `value_labels`: Python functions)."""
    dialect = datamodel.session.get_bind().dialect
    if dialect.name != "postgresql" or set(names) & set(labels or ()):
        return None
    _, joined, expressions = _sql_query(datamodel, names, filters, order_column, order_direction)
    if expressions is None:
        return None
    zone = clock.zone().key
    for index in _moment_columns(datamodel.obj, names, expressions):  # UTC moments, read in TIMEZONE
        expressions[index] = func.timezone(zone, func.timezone("UTC", expressions[index]), type_=DateTime())
    return joined, expressions


def _copy_statement(datamodel, statement, options):
    """COPY (`statement`) TO STDOUT WITH (`options`, psycopg SQL) and its parameters:
    the statement with its IN lists expanded and its parameters as execute() would
    send them (an enum as its stored name...)."""
    state = statement.compile(dialect=datamodel.session.get_bind().dialect).construct_expanded_state()
    params = {name: state.processors[name](value) if name in state.processors else value
              for name, value in state.parameters.items()}
    copy = psycopg_sql.SQL("COPY ({}) TO STDOUT WITH ({})").format(
        psycopg_sql.SQL(state.statement), options)
    return copy, params


def _copied(datamodel, copy, params):
    """The blocks COPY sends (one row each), on the session's connection (the request's
    transaction, once a response streams)."""
    connection = datamodel.session.connection()
    _for_export(connection)
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(copy, params) as rows:
        yield from rows


def copy_chunks(datamodel, names, filters, order_column, order_direction, headers, delimiter=";", labels=None,
                on_row=None):
    """The grid's CSV as `csv_chunks` writes it, but written by PostgreSQL (COPY ... TO
    STDOUT, in the request's transaction): several times faster than formatting rows
    in Python. Its lines end in LF, not CRLF; the cells are the same. None when the
    database cannot write it (`_copy_columns`) or a column's type is not one `_cell_sql`
    writes. `on_row()` is called per row written (a job's progress)."""
    columns = _copy_columns(datamodel, names, filters, order_column, order_direction, labels)
    if columns is None:
        return None
    joined, expressions = columns
    formatter = _Formatter()
    cells = [_cell_sql(expression, formatter) for expression in expressions]
    if any(cell is None for cell in cells):
        return None
    copy, params = _copy_statement(datamodel, joined.with_entities(*cells).statement,
                                   psycopg_sql.SQL("FORMAT csv, DELIMITER {}").format(psycopg_sql.Literal(delimiter)))

    def chunks():
        head = io.StringIO()
        head.write("\ufeff")
        csv.writer(head, delimiter=delimiter, lineterminator="\n").writerow(headers)  # as COPY ends lines
        yield head.getvalue().encode()
        buffer = bytearray()
        for line in _copied(datamodel, copy, params):  # a row at a time: the response gets ~256 KB chunks
            buffer += line
            if on_row is not None:
                on_row()
            if len(buffer) >= COPY_CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        yield bytes(buffer)

    return chunks()


def write_xlsx(path, sheet_name, headers, rows) -> int:
    """Write an XLSX file, streaming the rows through a temporary file (constant memory);
    return the rows written.

    XlsxWriter writes the workbook package (workbook, styles, header row in bold);
    the data rows go into its sheet through `_XlsxRows`, which writes the cells
    XlsxWriter would write (inline strings, numbers, dates as serial numbers in
    "yyyy-mm-dd hh:mm") about 4x faster: XlsxWriter's own cell API, even in
    constant-memory mode, spends ~8 us a cell (15,000-20,000 rows/s for a 7-column
    grid on our 2-core machine, before any database work).
    """
    return _write_workbook(path, sheet_name, headers,
                           lambda spool, date_style: _XlsxRows(len(headers), date_style).write(spool, rows))


def _write_workbook(path, sheet_name, headers, write_rows) -> int:
    """The XLSX package of `write_xlsx`, its data rows' XML written to a temporary file
    by `write_rows(binary file, date style)`, which returns how many it wrote."""
    import zipfile

    import xlsxwriter
    from xlsxwriter.utility import xl_col_to_name

    template = io.BytesIO()
    workbook = xlsxwriter.Workbook(template, {"in_memory": True, "default_date_format": XLSX_DATE_FORMAT})
    sheet = workbook.add_worksheet(sheet_name[:31] or "Export")
    sheet.write_row(0, 0, headers, workbook.add_format({"bold": True}))
    sheet.write_datetime(1, 0, datetime(2000, 1, 1))  # registers the date style; row 2 is replaced
    workbook.close()

    with zipfile.ZipFile(template) as package:
        members = [(info, package.read(info)) for info in package.infolist()]
    sheet_member = next(info for info, _ in members if info.filename.startswith("xl/worksheets/"))
    xml = dict((info.filename, data) for info, data in members)[sheet_member.filename].decode()
    date_style = re.search(r'<c r="A2" s="(\d+)"', xml).group(1)
    head = xml[:xml.index('<row r="2"')]
    tail = xml[xml.index("</sheetData>"):]

    spool = tempfile.TemporaryFile(dir=os.path.dirname(path) or None)
    try:
        count = write_rows(spool, date_style)
        last = f"{xl_col_to_name(max(len(headers), 1) - 1)}{count + 1}"
        head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', head).encode()
        tail = tail.encode()
        size = spool.tell()
        spool.seek(0)
        total = len(head) + size + len(tail)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=XLSX_COMPRESSION) as out:
            for info, data in members:
                if info is not sheet_member:
                    out.writestr(info, data)
                    continue
                # zip64 only when the sheet needs it, as XlsxWriter does.
                with out.open(info.filename, "w", force_zip64=total * 1.05 > zipfile.ZIP64_LIMIT) as member:
                    member.write(head)
                    # 64 KB at a time: 1 MB chunks (and zlib's output for them) left ~2 MB
                    # more of peak RSS in the exporting process, for no measurable speed.
                    while chunk := spool.read(1 << 16):
                        member.write(chunk)
                    member.write(tail)
    finally:
        spool.close()
    return count


def copy_xlsx(path, datamodel, names, filters, order_column, order_direction, sheet_name, headers, labels=None,
              on_row=None):
    """Write the grid's XLSX as `write_xlsx` writes it from `iter_rows`, but with each
    row's XML written by PostgreSQL (COPY ... TO STDOUT, binary: no escaping on the
    way): Python only compresses it, several times faster than formatting cells.
    Returns the rows written, or None (nothing written) when the database cannot
    write it (`_copy_columns`) or a column's type is not one `_sheet_sql` writes.
    `on_row()` is called per row written (a job's progress)."""
    columns = _copy_columns(datamodel, names, filters, order_column, order_direction, labels)
    if columns is None or not all(_sheet_kind(expression.type) for expression in columns[1]):
        return None

    def write_rows(spool, date_style):
        statement, renders = _sheet_sql(*columns, date_style)
        copy, params = _copy_statement(datamodel, statement, psycopg_sql.SQL("FORMAT binary"))
        return _copy_sheet_rows(_copied(datamodel, copy, params), renders, spool, on_row)

    return _write_workbook(path, sheet_name, headers, write_rows)


def _sheet_kind(kind):
    """How `_sheet_sql` writes a column of SQL type `kind`, or None for a type it does not."""
    if isinstance(kind, Enum):  # before String: an Enum is one
        return "enum" if kind.enum_class is not None else None
    for name, types in (("text", String), ("boolean", Boolean), ("integer", Integer), ("date", Date)):
        if isinstance(kind, types):
            return name
    return "moment" if isinstance(kind, DateTime) and not kind.timezone else None


#: Marks a cell in a row's XML that Python writes (`_copy_sheet_rows`): never in the
#: XML PostgreSQL writes, whose text holds no control character.
_PYTHON_CELL = "\x01"
# The characters of Python's \s (str.isspace), and a separator between a row's texts.
_SPACES = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_TEXTS_SEPARATOR = "\x7f"
# Texts `_XlsxRows.string` escapes (its _XLSX_SPECIAL), or a few more, in PostgreSQL's
# regular expressions, over a row's texts joined by the separator.
_XLSX_SPECIAL_SQL = (f"[&<>\x01-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{{4}}_"
                     f"|(^|{_TEXTS_SEPARATOR})[{_SPACES}]|[{_SPACES}]({_TEXTS_SEPARATOR}|$)")
_EXACT_INTEGER = 2 ** 53  # up to it, "%.16G" writes an integer (as a float) digit for digit
_EXCEL_EPOCH_SECONDS = 25569 * 86400  # from 1899-12-30, Excel's day 0 past its 1900-02-29, to 1970-01-01


def _sheet_sql(joined, expressions, date_style):
    """The SELECT whose rows are the sheet's <row> elements (from row 2), as `_XlsxRows`
    writes them: one text, in which each cell Python must write is `_PYTHON_CELL`,
    then per column that may have such cells its value as text, NULL where it has
    none. A row's texts are all left to Python when one of them needs escaping,
    which is rare. Also [(column letter, render(text, cell reference))] per such column."""
    from xlsxwriter.utility import xl_col_to_name

    formatter, string = _Formatter(), _XlsxRows.string
    inner = joined.with_entities(*(expression.label(f"c{index}") for index, expression in enumerate(expressions)))
    inner = inner.subquery()
    kinds = [_sheet_kind(expression.type) for expression in expressions]
    texts = [inner.c[f"c{index}"] for index, kind in enumerate(kinds) if kind == "text"]
    escaped = (or_(func.greatest(*map(func.octet_length, texts)) > XLSX_MAX_STRING // 2,
                   func.concat_ws(_TEXTS_SEPARATOR, *texts).regexp_match(_XLSX_SPECIAL_SQL))
               if texts else false())
    # The row numbers in the grid's order (the window runs over the ordered subquery);
    # the window also keeps PostgreSQL from inlining `escaped` in each cell (4x the cost).
    rows = select(cast(func.row_number().over() + 1, String).label("n"), escaped.label("python"),
                  *inner.c).select_from(inner).subquery()
    number, python = rows.c.n, rows.c.python

    def constant(value):
        return literal(value, String)

    def inline(letter, label):  # a string cell of a constant text, or none
        if not label:
            return constant("")
        return constant(f'<c r="{letter}') + number + constant(f'" t="inlineStr">{string(label)}</c>')

    cells, raws, renders = [], [], []
    for index, kind in enumerate(kinds):
        value, letter = rows.c[f"c{index}"], xl_col_to_name(index)
        opening = constant(f'<c r="{letter}') + number
        if kind == "text":
            cells.append(case((python, constant(_PYTHON_CELL)), (or_(value.is_(None), value == ""), constant("")),
                              else_=opening + constant('" t="inlineStr"><is><t>') + value + constant("</t></is></c>")))
            raws.append(case((python, func.coalesce(value, ""))))
            renders.append((letter, _string_cell))
        elif kind == "enum":
            stored = type_coerce(value, String)  # stored under the member's name
            members = list(expressions[index].type.enum_class)
            cells.append(case(*((stored == member.name, inline(letter, formatter.text(member))) for member in members),
                              (stored.is_(None), constant("")), else_=constant(_PYTHON_CELL)))
            raws.append(case((stored.in_([member.name for member in members]), null()), else_=stored))
            renders.append((letter, _string_cell))
        elif kind == "boolean":
            cells.append(case((value.is_(True), inline(letter, formatter.yes)),
                              (value.is_(False), inline(letter, formatter.no)), else_=constant("")))
        elif kind == "integer":
            inlined = value.between(literal(-_EXACT_INTEGER, BigInteger), literal(_EXACT_INTEGER, BigInteger))
            cells.append(case((inlined, opening + constant('"><v>') + cast(value, String) + constant("</v></c>")),
                              (value.is_(None), constant("")), else_=constant(_PYTHON_CELL)))
            raws.append(case((not_(inlined), cast(value, String))))
            renders.append((letter, _integer_cell))
        else:
            serial = _serial_sql(value, kind)
            cells.append(case((value.is_(None), constant("")), else_=opening + constant(f'" s="{date_style}"><v>')
                              + cast(serial, String) + constant("</v></c>")))
    xml = constant('<row r="') + number + constant('">')
    for cell in cells:
        xml = xml + cell
    return select(xml + constant("</row>"), *raws), renders


def _string_cell(value, ref):
    return f'<c r="{ref}" t="inlineStr">{_XlsxRows.string(value)}</c>' if value else ""


def _integer_cell(value, ref):
    return f'<c r="{ref}"><v>{int(value):.16G}</v></c>'


def _serial_sql(value, kind):
    """SQL of `_excel_date(value)` for a date or naive datetime column: Excel's serial
    number, days since 1899-12-30 from 1900-03-01 on (earlier, Excel's 1900-02-29 and
    its day 0 count)."""
    if kind == "date":
        return case((value >= date(1900, 3, 1), value - date(1899, 12, 30)),
                    (value == date(1900, 1, 1), literal(0)), else_=value - date(1899, 12, 31))
    seconds, day = func.date_part("epoch", value, type_=Float), literal(86400.0, Float)
    early = (seconds + (_EXCEL_EPOCH_SECONDS - 86400)) / day  # days since 1899-12-31
    return case((value >= datetime(1900, 3, 1), (seconds + _EXCEL_EPOCH_SECONDS) / day),
                (early > 59, early + 1),
                (and_(value >= datetime(1900, 1, 1), value < datetime(1900, 1, 2)), early - 1), else_=early)


def _copy_sheet_rows(blocks, renders, spool, on_row=None) -> int:
    """Write the rows of a binary COPY of `_sheet_sql` to `spool`; return their count.
    A row whose value columns are all NULL is its XML as it came; another has its
    marked cells written by Python."""
    nulls = b"\xff\xff\xff\xff" * len(renders)  # a NULL field: length -1
    end = len(nulls)
    count, started, parts = 0, False, []
    for block in blocks:
        if not started:  # the header (signature, flags, extension's length and bytes) before the first row
            started = True
            block = block[19 + int.from_bytes(block[15:19], "big"):]
            if not block:
                continue
        if block == b"\xff\xff":  # the trailer
            break
        count += 1
        # A row: its field count (2 bytes), then each field's length (4 bytes) and bytes.
        if not end:
            parts.append(block[6:])
        elif block[-end:] == nulls:
            parts.append(block[6:-end])
        else:
            parts.append(_python_cells(block, renders, count + 1))
        if on_row is not None:
            on_row()
        if len(parts) >= 1000:
            spool.write(b"".join(parts))
            parts.clear()
    spool.write(b"".join(parts))
    return count


def _python_cells(block, renders, number):
    """The row's XML of a binary COPY row, its marked cells written by their renders."""
    fields, at = [], 2
    for _ in range(int.from_bytes(block[:2], "big")):
        size = int.from_bytes(block[at:at + 4], "big", signed=True)
        at += 4
        fields.append(None if size < 0 else bytes(block[at:at + size]).decode())
        at += max(size, 0)
    pieces = fields[0].split(_PYTHON_CELL)
    written = ((letter, render, raw) for (letter, render), raw in zip(renders, fields[1:]) if raw is not None)
    out = [pieces[0]]
    for piece, (letter, render, raw) in zip(pieces[1:], written, strict=True):
        out += [render(raw, f"{letter}{number}"), piece]
    return "".join(out).encode()


XLSX_DATE_FORMAT = "yyyy-mm-dd hh:mm"
XLSX_COMPRESSION = 1  # zlib level of the sheet: level 6 costs ~3 us a row for a ~30% smaller file
XLSX_MAX_STRING = 32767
# Strings that need more than an XML text node: markup characters, control
# characters and their escapes, leading/trailing spaces (see _XlsxRows.string).
_XLSX_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")
_XLSX_EPOCH = datetime(1899, 12, 31)
_FLOAT_MAX = 1.7976931348623157e308


class _XlsxRows:
    """The <row> elements of a sheet, as XlsxWriter's constant-memory mode writes them."""

    def __init__(self, width, date_style):
        from xlsxwriter.utility import xl_col_to_name

        self.letters = [xl_col_to_name(col) for col in range(max(width, 1))]
        self.date_style = date_style
        self.formatter = _Formatter()

    def write(self, handle, rows, batch=1000):
        """Write every row (from sheet row 2 on) to the binary `handle`; return the count."""
        count = 0
        cells = self.cells
        rows = iter(rows)
        while chunk := list(islice(rows, batch)):
            parts = []
            for row in chunk:
                count += 1
                number = str(count + 1)
                parts.append(f'<row r="{number}">{cells(row, number)}</row>')
            handle.write("".join(parts).encode())
        return count

    def cells(self, row, number):
        out = []
        letters, string = self.letters, self.string
        for col, value in enumerate(row):
            kind = type(value)
            if kind is str:
                if value:  # XlsxWriter writes nothing for an empty, unformatted cell
                    out.append(f'<c r="{letters[col]}{number}" t="inlineStr">{string(value)}</c>')
            elif value is None:
                continue
            elif (kind is int or kind is float) and -_FLOAT_MAX <= value <= _FLOAT_MAX:
                out.append(f'<c r="{letters[col]}{number}"><v>{value:.16G}</v></c>')
            elif kind is datetime or kind is date:
                out.append(f'<c r="{letters[col]}{number}" s="{self.date_style}"><v>{_excel_date(value):.16G}</v></c>')
            else:
                out.append(self.other(value, f"{letters[col]}{number}"))
        return "".join(out)

    def other(self, value, ref):
        """Any other value, as `_Formatter.cell` turns it into a cell (bool and enums as text)."""
        value = self.formatter.cell(value)
        if value is None or value == "":
            return ""
        if isinstance(value, (datetime, date)):
            if not isinstance(value, datetime):
                value = datetime(value.year, value.month, value.day)
            return f'<c r="{ref}" s="{self.date_style}"><v>{_excel_date(value):.16G}</v></c>'
        if isinstance(value, (int, float)) and -_FLOAT_MAX <= value <= _FLOAT_MAX:
            return f'<c r="{ref}"><v>{value:.16G}</v></c>'
        return f'<c r="{ref}" t="inlineStr">{self.string(str(value))}</c>'  # also NaN, infinities

    @staticmethod
    def string(value):
        """An inline string: <is><t>...</t></is>, escaped as XlsxWriter escapes it."""
        if len(value) <= XLSX_MAX_STRING // 2 and not _XLSX_SPECIAL.search(value):
            return f"<is><t>{value}</t></is>"
        from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate
        from xlsxwriter.xmlwriter import XMLwriter

        if len(value) > XLSX_MAX_STRING // 2 and _utf16_len(value) > XLSX_MAX_STRING:
            value = _utf16_truncate(value, XLSX_MAX_STRING)
        value = XMLwriter._escape_control_characters(value)
        space = ' xml:space="preserve"' if _preserve_whitespace(value) else ""
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f"<is><t{space}>{value}</t></is>"


def _excel_date(value):
    """Excel's serial number of a date or naive datetime (1900 date system)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif value.tzinfo is not None:
        raise TypeError("Excel doesn't support timezones in datetimes")
    delta = value - _XLSX_EPOCH
    serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    if value.year == 1900 and value.month == 1 and value.day == 1:
        serial -= 1  # as XlsxWriter: Excel's time-only values sit on 1899-12-31
    if serial > 59:
        serial += 1  # Excel counts 1900-02-29
    return serial


# ---------------------------------------------------------------------------
# Writers of desks' documents: a PDF list, an archive of files
# ---------------------------------------------------------------------------

PDF_FONT, PDF_BOLD = "GuichetSans", "GuichetSans-Bold"
PDF_SIZE, PDF_LEADING = 9, 14  # points: the rows' text and their spacing


def pdf_fonts():
    """Bitstream Vera, shipped with reportlab: it has the letters of people's names
    (Ł, Č, Ş, Œ...) that the PDF standard fonts lack; embedded as subsets."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(PDF_FONT, "Vera.ttf"))
        pdfmetrics.registerFont(TTFont(PDF_BOLD, "VeraBd.ttf"))


def _fitted(pdf, text, font, width):
    """`text` cut with an ellipsis to fit `width` points."""
    if pdf.stringWidth(text, font, PDF_SIZE) <= width:
        return text
    keep = max(0, int(len(text) * width / pdf.stringWidth(text, font, PDF_SIZE)))
    while keep and pdf.stringWidth(text[:keep] + "…", font, PDF_SIZE) > width:
        keep -= 1
    return text[:keep] + "…"


def write_pdf_list(path, title, subtitle, headers, widths, rows) -> int:
    """A list in PDF (A4 portrait): on each page `title`, `subtitle`, the `headers` and
    as many rows of text cells as fit, each cell cut with an ellipsis to its column
    (`widths`: each column's share of the width), the page number at the foot. Drawn
    page by page on reportlab's canvas, which keeps each finished page compressed
    (a few KB) until the file is written: memory follows the file's size, never the
    rows, which are read one at a time. Returns the rows written."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf_fonts()
    page_width, page_height = A4
    margin = 36
    usable = page_width - 2 * margin
    lefts, x = [], margin
    for share in widths:
        lefts.append(x)
        x += usable * share / sum(widths)
    columns = [(left, usable * share / sum(widths) - 6) for left, share in zip(lefts, widths)]
    pdf = canvas.Canvas(path, pagesize=A4, pageCompression=1)
    pdf.setTitle(title)
    count, page = 0, 0
    rows = iter(rows)
    row = next(rows, None)
    while row is not None or page == 0:
        page += 1
        pdf.setFont(PDF_BOLD, 14)
        pdf.drawString(margin, page_height - margin - 14, _fitted(pdf, title, PDF_BOLD, usable))
        pdf.setFont(PDF_FONT, PDF_SIZE)
        pdf.drawString(margin, page_height - margin - 30, _fitted(pdf, subtitle, PDF_FONT, usable))
        y = page_height - margin - 54
        pdf.setFont(PDF_BOLD, PDF_SIZE)
        for (left, width), header in zip(columns, headers):
            pdf.drawString(left, y, _fitted(pdf, str(header), PDF_BOLD, width))
        pdf.line(margin, y - 4, page_width - margin, y - 4)
        pdf.setFont(PDF_FONT, PDF_SIZE)
        y -= PDF_LEADING + 4
        while row is not None and y > margin + PDF_LEADING:
            for (left, width), cell in zip(columns, row):
                pdf.drawString(left, y, _fitted(pdf, "" if cell is None else str(cell), PDF_FONT, width))
            count += 1
            y -= PDF_LEADING
            row = next(rows, None)
        pdf.drawRightString(page_width - margin, margin / 2, str(page))
        pdf.showPage()
    pdf.save()
    return count


ARCHIVE_COMPRESSION = 1  # zlib level: uploaded files (images, PDFs) are mostly compressed already


def write_archive(path, fmt, members) -> int:
    """A zip (ZIP64 past its limits) or tar.gz archive at `path` of `members`, pairs
    (name in the archive, path of a file on disk) read lazily, each file copied in
    chunks: memory holds a chunk and the archive's index (a few hundred bytes a
    member), never a file. Returns the members written."""
    import tarfile
    import zipfile

    count = 0
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True,
                             compresslevel=ARCHIVE_COMPRESSION) as archive:
            for name, source in members:
                archive.write(source, name)  # streamed; ZIP64 chosen from the file's size
                count += 1
        return count
    if fmt != "tar.gz":
        raise ValueError(f"no archive in {fmt}")
    with tarfile.open(path, "w:gz", compresslevel=ARCHIVE_COMPRESSION, format=tarfile.PAX_FORMAT) as archive:
        for name, source in members:
            info = archive.gettarinfo(source, name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with open(source, "rb") as handle:
                archive.addfile(info, handle)
            count += 1
    return count


def _stream_file(path, chunk_size=256 * 1024):
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk
    finally:
        os.unlink(path)


def export_response(datamodel, columns, filters, order_column, order_direction, fmt, grid_name, labels=None):
    """The HTTP response of a grid export: `columns` is [(name, header), ...]."""
    names = [name for name, _ in columns]
    headers = [header for _, header in columns]
    if fmt == "csv":
        chunks = copy_chunks(datamodel, names, filters, order_column, order_direction, headers, csv_delimiter(),
                             labels)
        if chunks is not None:
            return _download(Response(stream_with_context(chunks), mimetype=CSV_MIMETYPE), grid_name, fmt)
    elif fmt == "xlsx":
        path = _temporary(fmt)
        if copy_xlsx(path, datamodel, names, filters, order_column, order_direction, grid_name, headers,
                     labels) is not None:
            return _download(Response(_stream_file(path), mimetype=XLSX_MIMETYPE), grid_name, fmt)
        os.unlink(path)
    return rows_response(grid_name, headers,
                         iter_rows(datamodel, names, filters, order_column, order_direction, labels), fmt)


def rows_response(name, headers, rows, fmt):
    """Rows (tuples of raw values, read lazily) as a CSV or XLSX download named after
    `name`: a grid's export, or a desk's own table (a report)."""
    if fmt == "csv":
        response = Response(stream_with_context(csv_chunks(headers, rows, csv_delimiter())), mimetype=CSV_MIMETYPE)
    else:
        path = _temporary(fmt)
        write_xlsx(path, name, headers, rows)
        response = Response(_stream_file(path), mimetype=XLSX_MIMETYPE)
    return _download(response, name, fmt)


def _temporary(fmt):
    """The path of a new empty file for a download, deleted once it has been sent (`_stream_file`)."""
    handle, path = tempfile.mkstemp(suffix=f".{fmt}")
    os.close(handle)
    return path


def _download(response, name, fmt):
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name(name, fmt)}"'
    return response


# ---------------------------------------------------------------------------
# Exports too large for a request: a job writes the file, a page waits for it
# ---------------------------------------------------------------------------


def export_root() -> str:
    return current_app.config.get("EXPORTS_ROOT") or os.path.join(current_app.instance_path, "exports")


def progress_key(export_id) -> str:
    return f"export:{export_id}"


def write_file(path, fmt, name, headers, rows):
    """Write the rows to `path` as CSV or XLSX, as the download would hold them."""
    if fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(csv_chunks(headers, rows, csv_delimiter()))
    else:
        write_xlsx(path, name, headers, rows)


class _Counted:
    """Rows passed through (or written elsewhere and `add`ed), counted, with
    `on_progress(done)` every `every` rows."""

    def __init__(self, on_progress, every, rows=()):
        self.rows, self.on_progress, self.every, self.done = rows, on_progress, every, 0

    def __iter__(self):
        for row in self.rows:
            yield row
            self.add()

    def add(self):
        self.done += 1
        if self.done % self.every == 0:
            self.on_progress(self.done)


def start_export(view, fmt, grid_query) -> ExportFile:
    """An ExportFile of the grid as the current request asks for it, and the job that
    writes it (in a thread of its own when jobs run in-process); committed."""
    return _start(ExportFile(grid=view.endpoint, title=str(view.list_title)[:255], format=fmt, query=grid_query,
                             file_name=file_name(str(view.list_title), fmt)))


def _start(export) -> ExportFile:
    export.user_id = signed_in_person().id
    export.locale = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
    export.rows_total = 0
    db.session.add(export)
    db.session.flush()
    jobs.enqueue_job(run_export, (export.id,), background=True, retry=False)
    db.session.commit()
    return export


def run_export(export_id):
    """The job: in a request signed in as the requester, so that their row scope
    applies, count then write the grid (rebuilt from its query string: filters, sort,
    columns) or the document (with its parameters), telling the waiting page how far
    it has got."""
    export = db.session.get(ExportFile, export_id)
    if export is None or export.state is not ExportState.queued:
        return
    os.makedirs(export_root(), exist_ok=True)
    relative = f"{export.id}-{secrets.token_hex(8)}.{export.format}"
    path = os.path.join(export_root(), relative)
    key = progress_key(export.id)
    try:
        export.state = ExportState.running
        db.session.commit()
        with current_app.test_request_context(f"/exports/{export.id}", query_string=export.query), \
                force_locale(export.locale):
            g.user = db.session.get(User, export.user_id)
            write = _write_document if export.document else _write_grid
            total, done = write(export, path, lambda done, total: jobs.set_progress(key, done, total))
        db.session.rollback()  # end the reading transaction before writing the outcome
        export = db.session.get(ExportFile, export_id)
        export.state, export.rows_total, export.rows_done = ExportState.ready, total, done
        export.storage_path, export.finished_on = relative, utcnow()
        notifications.notify([export.user], "export_ready", {"title": export.title, "rows": done},
                             link=f"/exports/{export.id}", mail=False)
        db.session.commit()
    except Exception:
        db.session.rollback()
        if os.path.exists(path):
            os.unlink(path)
        export = db.session.get(ExportFile, export_id)
        export.state, export.finished_on = ExportState.failed, utcnow()
        db.session.commit()
        raise
    finally:
        jobs.forget_progress(key)


def _write_grid(export, path, report):
    """Write the grid's rows to `path`; (rows counted, rows written)."""
    view = next(v for v in current_app.appbuilder.baseviews if v.endpoint == export.grid)
    columns, filters, order_column, order_direction = view.export_plan()
    total = view.datamodel.exact_count(filters)
    report(0, total)
    names, headers = [name for name, _ in columns], [header for _, header in columns]
    rows = _Counted(lambda done: report(done, total), current_app.config["EXPORT_BATCH_SIZE"])
    copied = export.format == "csv" and copy_chunks(
        view.datamodel, names, filters, order_column, order_direction, headers,
        csv_delimiter(), view.value_labels, on_row=rows.add)
    if copied:
        with open(path, "wb") as handle:
            handle.writelines(copied)
    elif export.format != "xlsx" or copy_xlsx(path, view.datamodel, names, filters, order_column, order_direction,
                                              export.title, headers, view.value_labels, on_row=rows.add) is None:
        rows.rows = iter_rows(view.datamodel, names, filters, order_column, order_direction, view.value_labels)
        write_file(path, export.format, export.title, headers, rows)
    return total, rows.done


# ---------------------------------------------------------------------------
# A desk's own documents (a PDF list, an archive of files) on the same job
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A desk's export that is not a grid, registered under a unique `name` (the desk's
    module first: "events.places"). Each callable gets the export's `params` (a dict
    of texts) and runs in a request signed in as the requester, so that the queries it
    makes see their row scope: `check(params)` raises a Refused when the requester may
    not have it (asked when the export is requested, and again by the job: a right may
    have gone meanwhile); `title(params)` names it (the page, the file name);
    `rows_total(params)` counts the units of work `write` reports; `write(path, fmt,
    params, progress)` writes the file in one of `formats` (keys of MIMETYPES),
    calling `progress(done)` as it goes, in constant memory, and returns how many
    units it did."""

    name: str
    formats: tuple
    check: Callable
    title: Callable
    rows_total: Callable
    write: Callable


_DOCUMENTS = {}


def register_document(document: Document) -> Document:
    """Offer a desk's document on the export job (at import of the desk's rules)."""
    if set(document.formats) - MIMETYPES.keys():
        raise ValueError(f"{document.name}: no such format among {sorted(MIMETYPES)}")
    _DOCUMENTS[document.name] = document
    return document


def start_document(name, fmt, params) -> ExportFile:
    """An ExportFile of the document `name` in `fmt` with `params`, if the requester may
    have it (else the document's refusal is raised), and the job that writes it; committed."""
    document = _DOCUMENTS[name]
    if fmt not in document.formats:
        raise ValueError(f"{name} is not written in {fmt}")
    params = {key: str(value) for key, value in params.items()}
    document.check(params)
    title = str(document.title(params))
    return _start(ExportFile(document=name, title=title[:255], format=fmt, query=urlencode(sorted(params.items())),
                             file_name=file_name(title, fmt)))


class _Throttled:
    """A job's progress reported at most every hundredth of the work (each report is a
    write to Redis), and at its end."""

    def __init__(self, report, total):
        self.report, self.total, self.last = report, total, 0
        self.step = max(1, total // 100)

    def __call__(self, done):
        if done - self.last >= self.step or done >= self.total:
            self.last = done
            self.report(done, self.total)


def _write_document(export, path, report):
    """Write the document to `path`, the requester's right checked again; (units counted, units done)."""
    document = _DOCUMENTS[export.document]
    params = dict(parse_qsl(export.query, keep_blank_values=True))
    document.check(params)
    total = document.rows_total(params)
    report(0, total)
    done = document.write(path, export.format, params, _Throttled(report, total))
    return total, done


def export_path(export) -> str:
    return os.path.join(export_root(), export.storage_path)


def sweep_exports() -> int:
    """Delete the exports older than EXPORT_KEEP_HOURS, files first (a periodic job)."""
    limit = utcnow() - timedelta(hours=current_app.config["EXPORT_KEEP_HOURS"])
    expired = db.session.scalars(select(ExportFile).where(ExportFile.created_on < limit)).all()
    for export in expired:
        if export.storage_path and os.path.exists(export_path(export)):
            os.unlink(export_path(export))
        db.session.delete(export)
    db.session.commit()
    return len(expired)
