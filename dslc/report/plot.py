"""Pictures for `dslc rf`: field size against depth, and one unit's field on an image."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dslc.ir.graph import Node
from dslc.passes import Analysis
from dslc.report.png import ImageError, draw_text, encode_png, read_image, text_width

__all__ = ["RED", "PictureError", "rf_on_image", "rf_plot"]

BLUE, ORANGE, GREY, BLACK = (31, 119, 180), (255, 127, 14), (200, 200, 200), (0, 0, 0)
RED = (220, 30, 30)


class PictureError(Exception):
    """A picture that cannot be drawn (the message says why)."""


def _line(
    img: np.ndarray,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    colour: tuple[int, int, int],
    width: int = 2,
) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    for t in np.linspace(0.0, 1.0, n):
        x, y = round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t)
        img[
            max(y - width // 2, 0) : y + (width + 1) // 2,
            max(x - width // 2, 0) : x + (width + 1) // 2,
        ] = colour


def _ticks(top: float) -> list[float]:
    step = 10 ** np.floor(np.log10(max(top, 1) / 4))
    for m in (1, 2, 5, 10):
        if top / (m * step) <= 6:
            step *= m
            break
    return [float(v) for v in np.arange(0, top + step / 2, step)]


def rf_plot(analysis: Analysis, nodes: list[Node]) -> bytes:
    """Field size (height and width) against layer depth along the path, as PNG bytes."""
    pts = [(float(rf.h.size), float(rf.w.size)) for n in nodes if (rf := analysis.rfs[n.id])]
    width, height, left, right, top, bottom = 720, 420, 70, 20, 40, 50
    img = np.full((height, width, 3), 255, np.uint8)
    top_val = max(max(p) for p in pts) * 1.05
    xs = max(len(pts) - 1, 1)

    def px(i: float, v: float) -> tuple[float, float]:
        return (
            left + (width - left - right) * i / xs,
            height - bottom - (height - top - bottom) * v / top_val,
        )

    for v in _ticks(top_val):
        _, y = px(0, v)
        _line(img, left, y, width - right, y, GREY, 1)
        label = f"{v:g}"
        draw_text(img, left - 8 - text_width(label), int(y) - 5, label, BLACK)
    for i in range(0, len(pts), max(1, len(pts) // 10)):
        x, _ = px(i, 0)
        draw_text(img, int(x) - text_width(str(i)) // 2, height - bottom + 8, str(i), BLACK)
    _line(img, left, top, left, height - bottom, BLACK)
    _line(img, left, height - bottom, width - right, height - bottom, BLACK)
    for axis, colour in ((1, ORANGE), (0, BLUE)):
        for i in range(1, len(pts)):
            _line(img, *px(i - 1, pts[i - 1][axis]), *px(i, pts[i][axis]), colour, 3)
    draw_text(img, left, 10, f"RECEPTIVE FIELD OF {analysis.graph.name} (PX)", BLACK)
    draw_text(img, width - right - 190, 10, "HEIGHT", BLUE)
    draw_text(img, width - right - 100, 10, "WIDTH", ORANGE)
    label = "LAYER INDEX ON THE WAY (GRAPH ORDER)"
    draw_text(img, (width - text_width(label)) // 2, height - 22, label, BLACK)
    return encode_png(img)


def rf_on_image(
    analysis: Analysis, node: Node, path: Path, unit: tuple[int, int] | None
) -> tuple[bytes, str]:
    """The image with one unit's field outlined (red) and its centre marked; and a caption."""
    try:
        img = read_image(path)
    except (ImageError, OSError, ValueError) as exc:
        raise PictureError(f"cannot read {path}: {exc}") from None
    rf = analysis.rfs[node.id]
    assert rf is not None
    hw = analysis.shapes[node.id][2:]
    if unit is None:
        if not all(isinstance(d, int) for d in hw):
            raise PictureError("the map's size is symbolic; choose a unit with --unit I,J")
        unit = (int(str(hw[0])) // 2, int(str(hw[1])) // 2)
    for k, d in enumerate(hw):
        if isinstance(d, int) and not 0 <= unit[k] < d:
            raise PictureError(
                f"--unit {unit[0]},{unit[1]} is outside the {hw[0]} x {hw[1]} map of '{node.name}'"
            )
    box = []
    for ax, u in ((rf.h, unit[0]), (rf.w, unit[1])):
        c = ax.start + u * ax.jump
        box.append((c - (ax.size - 1) / 2, c + (ax.size - 1) / 2, c))
    (r0, r1, rc), (c0, c1, cc) = box
    h, w = img.shape[:2]
    out = img.astype(np.float64)
    rs, re_ = max(math.ceil(r0), 0), min(math.floor(r1), h - 1)
    cs, ce = max(math.ceil(c0), 0), min(math.floor(c1), w - 1)
    if rs <= re_ and cs <= ce:
        out[rs : re_ + 1, cs : ce + 1] = out[rs : re_ + 1, cs : ce + 1] * 0.6 + np.array(RED) * 0.4
    pic = out.astype(np.uint8)
    t = max(1, min(h, w) // 150)
    for y in (rs, re_):
        if 0 <= y < h and cs <= ce:
            pic[max(y - t, 0) : y + t + 1, cs : ce + 1] = RED
    for x in (cs, ce):
        if 0 <= x < w and rs <= re_:
            pic[rs : re_ + 1, max(x - t, 0) : x + t + 1] = RED
    yc, xc = round(float(rc)), round(float(cc))
    if 0 <= yc < h and 0 <= xc < w:
        pic[max(yc - 2 * t, 0) : yc + 2 * t + 1, max(xc - 2 * t, 0) : xc + 2 * t + 1] = (
            255,
            255,
            0,
        )
    text = (
        f"unit ({unit[0]}, {unit[1]}) of '{node.name}' sees rows {float(r0):g}..{float(r1):g}"
        f", columns {float(c0):g}..{float(c1):g} (centre {float(rc):g},{float(cc):g})"
    )
    return encode_png(pic), text
