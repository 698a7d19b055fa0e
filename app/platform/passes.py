"""Printable passes: a PDF page drawn on a template image, with details and a QR code
written in the template's white zones.

A template is a landscape image of 2480 × 1169 pixels (a 21 × 9.9 cm page at 300 dpi).
`ZONES` says where the QR code, the reference under it and the details go; the sample
template (`sample_template()`) shows them, for designers to lay their artwork around.
Without a template, the page is white with the same zones. The QR code is drawn as
vector squares, so it stays sharp at any printing size.

segno, reportlab and PIL's drawing are imported where they are used: every process
imports this module, few draw a pass.
"""
from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from .exports import PDF_BOLD, PDF_FONT, pdf_fonts

WIDTH, HEIGHT = 2480, 1169  # the template's pixels
SCALE = 72 / 300  # PDF points per template pixel (300 dpi)
# (left, top, width, height) in template pixels.
ZONES = {"qr": (1810, 90, 580, 580), "reference": (1810, 690, 580, 70), "details": (90, 790, 2300, 300),
         "title": (90, 90, 1640, 250)}
TEMPLATE_TYPES = ("PNG", "JPEG")


class BadTemplate(ValueError):
    """An image that cannot be a template: `size` is its (width, height), or None when
    it is not a PNG or JPEG image at all."""

    def __init__(self, size=None):
        super().__init__(f"{size[0]} × {size[1]} pixels" if size else "not a PNG or JPEG image")
        self.size = size


def check_template(data: bytes) -> None:
    """Refuse what is not a PNG or JPEG image of exactly WIDTH × HEIGHT pixels."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, size = image.format, image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise BadTemplate() from None
    if kind not in TEMPLATE_TYPES:
        raise BadTemplate()
    if size != (WIDTH, HEIGHT):
        raise BadTemplate(size)


def sample_template(labels: dict) -> bytes:
    """A PNG of the template's size with each zone white and outlined, named by
    `labels` ({zone: text}), the rest grey: the designers' guide."""
    from PIL import ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), (200, 200, 200))
    draw = ImageDraw.Draw(image)
    for zone, (left, top, width, height) in ZONES.items():
        draw.rectangle((left, top, left + width, top + height), fill="white", outline=(120, 120, 120), width=4)
        draw.text((left + 20, top + 20), labels.get(zone, zone), fill=(60, 60, 60), font_size=40)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _box(zone):
    """A zone's (x, y, width, height) in PDF points, from the page's bottom left."""
    left, top, width, height = ZONES[zone]
    return left * SCALE, (HEIGHT - top - height) * SCALE, width * SCALE, height * SCALE


def _qr(pdf, text):
    import segno

    x, y, size, _ = _box("qr")
    code = segno.make(text, error="m", micro=False)
    matrix = list(code.matrix_iter(border=2))
    module = size / len(matrix)
    pdf.setFillColorRGB(0, 0, 0)
    for row, line in enumerate(matrix):
        for column, dark in enumerate(line):
            if dark:
                pdf.rect(x + column * module, y + size - (row + 1) * module, module, module, stroke=0, fill=1)


def _lines(pdf, zone, lines, size):
    x, y, width, height = _box(zone)
    pdf.setFillColorRGB(0, 0, 0)
    leading = size * 1.25
    top = y + height - leading
    for index, line in enumerate(lines):
        font = PDF_BOLD if index == 0 else PDF_FONT
        text = str(line)
        while text and pdf.stringWidth(text, font, size) > width - 8:
            text = text[:-2] + "…"
        if top - index * leading < y:
            break
        pdf.setFont(font, size)
        pdf.drawString(x + 4, top - index * leading, text)


def draw(pages, template: bytes | None = None) -> bytes:
    """A PDF of one page per pass; each pass is {"title": [lines], "details": [lines],
    "reference": text, "qr": text} drawn on `template` (or white)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    pdf_fonts()
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(WIDTH * SCALE, HEIGHT * SCALE), pageCompression=1)
    background = ImageReader(io.BytesIO(template)) if template else None
    for page in pages:
        if background is not None:
            pdf.drawImage(background, 0, 0, WIDTH * SCALE, HEIGHT * SCALE)
        for zone in ("title", "details", "reference", "qr"):
            x, y, width, height = _box(zone)
            pdf.setFillColorRGB(1, 1, 1)
            pdf.rect(x, y, width, height, stroke=0, fill=1)  # white, whatever the artwork does
        _lines(pdf, "title", page.get("title", ()), 20)
        _lines(pdf, "details", page.get("details", ()), 12)
        _lines(pdf, "reference", [page.get("reference", "")], 11)
        _qr(pdf, page["qr"])
        pdf.showPage()
    pdf.save()
    return out.getvalue()
