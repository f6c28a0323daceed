"""Charts the server draws itself, with no browser and no CDN: a stacked bar chart as SVG
(for the HTML file) and as PNG (for e-mail, where SVG is not shown by most clients).

The PNG is written by hand (a pixel buffer, a 5x7 digit font, zlib): a few dozen lines
instead of an imaging dependency."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from html import escape

__all__ = ["BarChart", "Series", "nice_max", "png", "svg"]

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    colour: Colour


@dataclass(frozen=True)
class BarChart:
    """Bars per label (e.g. hour of the day), the series stacked bottom-up."""

    labels: list[str]
    series: list[Series]
    tick_every: int = 3

    def totals(self) -> list[float]:
        return [sum(s.values[i] for s in self.series) for i in range(len(self.labels))]


def nice_max(value: float) -> float:
    """The axis top: four gridline steps of 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 4.0
    quarter = value / 4
    scale = 1.0
    while scale * 10 <= quarter:
        scale *= 10
    while scale > quarter:
        scale /= 10
    step = next(s * scale for s in (1, 2, 2.5, 5, 10) if s * scale >= quarter)
    return 4 * step


def _fmt(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _hex(colour: Colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


_W, _H, _LEFT, _BOTTOM, _TOP, _RIGHT = 720, 240, 48, 24, 10, 10


def svg(chart: BarChart, title: str = "") -> str:
    """The chart as an inline ``<svg>`` element, axis labels included."""
    top = nice_max(max(chart.totals(), default=0.0))
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    slot = plot_w / max(1, len(chart.labels))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" '
        f'height="{_H}" role="img" aria-label="{escape(title)}" font-family="Arial" '
        'font-size="11">'
    ]
    for i in range(5):
        y = _TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}" stroke="#e4e7eb"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#52606d">'
            f"{_fmt(top * i / 4)}</text>"
        )
    for i, label in enumerate(chart.labels):
        x, base = _LEFT + i * slot + slot * 0.15, float(_TOP + plot_h)
        for series in chart.series:
            h = plot_h * series.values[i] / top
            if h > 0:
                base -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{h:.1f}" fill="{_hex(series.colour)}">'
                    f"<title>{escape(label)} {escape(series.name)}: {series.values[i]:g}</title>"
                    "</rect>"
                )
        if i % chart.tick_every == 0:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{_H - 8}" text-anchor="middle" '
                f'fill="#52606d">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


_FONT = {
    "0": "01110100011001110101110011000101110",
    "1": "00100011000010000100001000010001110",
    "2": "01110100010000100010001000100011111",
    "3": "11111000100010000010000011000101110",
    "4": "00010001100101010010111110001000010",
    "5": "11111100001111000001000011000101110",
    "6": "00110010001000011110100011000101110",
    "7": "11111000010001000100010000100001000",
    "8": "01110100011000101110100011000101110",
    "9": "01110100011000101111000010001001100",
    ".": "00000000000000000000000000110001100",
    "k": "10000100001001010100110001010010010",
}


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x: int, y: int, w: int, h: int, colour: Colour) -> None:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        row = bytes(colour) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, value: str, colour: Colour, scale: int = 1) -> None:
        for ch in value:
            glyph = _FONT.get(ch)
            if glyph is not None:
                for index, bit in enumerate(glyph):
                    if bit == "1":
                        gx, gy = index % 5, index // 5
                        self.rect(x + gx * scale, y + gy * scale, scale, scale, colour)
            x += 6 * scale

    def encode(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def png(chart: BarChart) -> bytes:
    """The same chart as a PNG (axis numbers drawn with a built-in digit font)."""
    canvas = _Canvas(_W, _H)
    top = nice_max(max(chart.totals(), default=0.0))
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    grey, text = (228, 231, 235), (82, 96, 109)
    for i in range(5):
        y = round(_TOP + plot_h - plot_h * i / 4)
        canvas.rect(_LEFT, y, plot_w, 1, grey)
        label = _fmt(top * i / 4)
        canvas.text(_LEFT - 8 - len(label) * 6, y - 3, label, text)
    slot = plot_w / max(1, len(chart.labels))
    for i, label in enumerate(chart.labels):
        x, base = _LEFT + i * slot + slot * 0.15, float(_TOP + plot_h)
        for series in chart.series:
            h = plot_h * series.values[i] / top
            if h > 0:
                canvas.rect(round(x), round(base - h), round(slot * 0.7), round(h), series.colour)
                base -= h
        if i % chart.tick_every == 0:
            digits = "".join(ch for ch in label if ch in _FONT)
            canvas.text(round(x + slot * 0.35 - len(digits) * 3), _H - 16, digits, text)
    return canvas.encode()
