"""One unit's receptive field drawn on an image (`dslc rf --image`).

A small image (a lecture's 32 x 32) is drawn enlarged, pixel by pixel with its grid, the
unit's field, its centre, the fields of the next units along each axis (how far the field
jumps) and a legend. A large one (a photo) keeps its own resolution; the field gets a
white-on-black outline that shows on any content and the outside is dimmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from dslc.ir.graph import Node
from dslc.passes import Analysis
from dslc.report.picture import PictureError, new_figure, save, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["SMALL", "Field", "field_of", "rf_on_image", "unit_of"]

SMALL = 128  # images at most this many pixels a side are drawn enlarged
OUTLINE, HALO = "white", "black"
CENTRE = "#ffd400"
NEIGHBOURS = ("#00c8ff", "#ff8c00")


@dataclass(frozen=True, slots=True)
class Field:
    """A unit's field in input pixels: first and last row and column (pixel centres)."""

    unit: tuple[int, int]
    rows: tuple[float, float]
    cols: tuple[float, float]
    jump: tuple[float, float]

    @property
    def centre(self) -> tuple[float, float]:
        return (sum(self.rows) / 2, sum(self.cols) / 2)

    @property
    def size(self) -> tuple[float, float]:
        return (self.rows[1] - self.rows[0] + 1, self.cols[1] - self.cols[0] + 1)


def unit_of(analysis: Analysis, node: Node, unit: tuple[int, int] | None) -> tuple[int, int]:
    """The unit asked for (default: the map's centre); PictureError when outside the map."""
    hw = analysis.shapes[node.id][2:]
    if unit is None:
        if not all(isinstance(d, int) for d in hw):
            raise PictureError("the map's size is symbolic; choose a unit with --unit I,J")
        return (int(str(hw[0])) // 2, int(str(hw[1])) // 2)
    for k, d in enumerate(hw):
        if isinstance(d, int) and not 0 <= unit[k] < d:
            raise PictureError(
                f"--unit {unit[0]},{unit[1]} is outside the {hw[0]} x {hw[1]} map of '{node.name}'"
                f" (rows 0..{int(str(hw[0])) - 1}, columns 0..{int(str(hw[1])) - 1})"
            )
    return unit


def field_of(analysis: Analysis, node: Node, unit: tuple[int, int]) -> Field:
    """Where unit (i, j) of the node's map looks in the input."""
    rf = analysis.rfs[node.id]
    assert rf is not None
    spans = []
    for ax, u in ((rf.h, unit[0]), (rf.w, unit[1])):
        c = Fraction(ax.start) + u * Fraction(ax.jump)
        half = Fraction(ax.size - 1, 2)
        spans.append((float(c - half), float(c + half)))
    return Field(unit, spans[0], spans[1], (float(rf.h.jump), float(rf.w.jump)))


def _box(ax: Axes, f: Field, z: float, colour: str, width: float, **kw: Any) -> None:
    """The field's outline on pixel edges: a `colour` stroke over a wider black one."""
    from matplotlib import patheffects
    from matplotlib.patches import Rectangle

    h, w = f.size
    r = Rectangle(
        (f.cols[0] - 0.5, f.rows[0] - 0.5),
        w,
        h,
        fill=False,
        edgecolor=colour,
        linewidth=width,
        zorder=z,
        path_effects=[
            patheffects.Stroke(linewidth=width * 2.4, foreground=HALO),
            patheffects.Normal(),
        ],
        **kw,
    )
    ax.add_patch(r)


def _neighbours(analysis: Analysis, node: Node, f: Field) -> list[Field]:
    """The next unit down and the next to the right (or before, at the map's edge)."""
    hw = analysis.shapes[node.id][2:]
    out = []
    for axis in (0, 1):
        step = [0, 0]
        d = hw[axis]
        step[axis] = -1 if isinstance(d, int) and f.unit[axis] + 1 >= d else 1
        u = (f.unit[0] + step[0], f.unit[1] + step[1])
        if min(u) >= 0:
            out.append(field_of(analysis, node, u))
    return out


def _legend_handles(f: Field, near: list[Field]) -> list[Any]:
    from matplotlib import patheffects
    from matplotlib.lines import Line2D

    halo = [patheffects.Stroke(linewidth=5, foreground=HALO), patheffects.Normal()]
    size = f"{f.size[0]:g} x {f.size[1]:g}"
    hands = [
        Line2D(
            [],
            [],
            color=OUTLINE,
            lw=2,
            path_effects=halo,
            label=f"field of unit {f.unit}: {size} px",
        ),
        Line2D(
            [],
            [],
            ls="",
            marker="X",
            ms=10,
            mfc=CENTRE,
            mec=HALO,
            label=f"centre {f.centre[0]:g}, {f.centre[1]:g}",
        ),
    ]
    for g, colour in zip(near, NEIGHBOURS):
        jump = f"{abs(g.centre[0] - f.centre[0]) + abs(g.centre[1] - f.centre[1]):g}"
        hands.append(
            Line2D(
                [],
                [],
                color=colour,
                lw=1.6,
                ls="--",
                path_effects=halo,
                label=f"field of unit {g.unit}: {jump} px away (jump)",
            )
        )
    return hands


def _enlarged(img: np.ndarray, analysis: Analysis, node: Node, f: Field) -> Any:
    h, w = img.shape[:2]
    near = _neighbours(analysis, node, f)
    fig = new_figure(9.0, 6.0)
    ax = fig.add_axes((0.07, 0.08, 0.56, 0.82))
    ax.imshow(img, interpolation="nearest", zorder=0)
    lo_r = min(-0.5, *(g.rows[0] - 0.5 for g in [f, *near]))
    hi_r = max(h - 0.5, *(g.rows[1] + 0.5 for g in [f, *near]))
    lo_c = min(-0.5, *(g.cols[0] - 0.5 for g in [f, *near]))
    hi_c = max(w - 0.5, *(g.cols[1] + 0.5 for g in [f, *near]))
    ax.set_xlim(lo_c - 0.5, hi_c + 0.5)
    ax.set_ylim(hi_r + 0.5, lo_r - 0.5)
    grid_w = 0.6 if max(h, w) <= 64 else 0.3
    ax.vlines(np.arange(w + 1) - 0.5, -0.5, h - 0.5, colors="#808080", lw=grid_w, zorder=1)
    ax.hlines(np.arange(h + 1) - 0.5, -0.5, w - 0.5, colors="#808080", lw=grid_w, zorder=1)
    for g, colour in zip(near, NEIGHBOURS):
        _box(ax, g, 2, colour, 1.6, linestyle="--")
        ax.plot([g.centre[1]], [g.centre[0]], "o", ms=5, mfc=colour, mec=HALO, zorder=4)
    _box(ax, f, 3, OUTLINE, 2.0)
    ax.plot([f.centre[1]], [f.centre[0]], "X", ms=11, mfc=CENTRE, mec=HALO, zorder=5)
    step = max(1, 2 ** int(np.ceil(np.log2(max(h, w) / 16))))
    ax.set_xticks(range(0, w, step))
    ax.set_yticks(range(0, h, step))
    ax.set_xlabel("column (input pixels)")
    ax.set_ylabel("row (input pixels)")
    ax.set_title(f"{analysis.graph.name}: '{node.name}' unit {f.unit} on a {h} x {w} image")
    fig.legend(
        handles=_legend_handles(f, near),
        loc="center left",
        bbox_to_anchor=(0.655, 0.5),
        frameon=False,
        fontsize=9,
    )
    return fig


def _large(img: np.ndarray, f: Field) -> Any:
    from matplotlib.patches import Rectangle

    h, w = img.shape[:2]
    dpi = 100.0
    fig = new_figure(w / dpi, h / dpi, dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(img, interpolation="nearest", zorder=0)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    top, bottom = f.rows[0] - 0.5, f.rows[1] + 0.5
    left, right = f.cols[0] - 0.5, f.cols[1] + 0.5
    big = 10.0 * max(h, w)  # bands reach past the image; the axes clip them
    for x, y, bw, bh in (
        (-big, -big, 3 * big, top + big),
        (-big, bottom, 3 * big, 2 * big),
        (-big, top, left + big, bottom - top),
        (right, top, 2 * big, bottom - top),
    ):
        ax.add_patch(Rectangle((x, y), bw, bh, facecolor="black", alpha=0.55, lw=0, zorder=1))
    width = max(3.0, min(h, w) / 100) * 72 / dpi  # points: 3 screen pixels or more
    _box(ax, f, 3, OUTLINE, width)
    ax.plot(
        [f.centre[1]],
        [f.centre[0]],
        "X",
        ms=max(8.0, min(h, w) / 40),
        mfc=CENTRE,
        mec=HALO,
        zorder=5,
    )
    return fig


def rf_on_image(
    analysis: Analysis, node: Node, img: np.ndarray, unit: tuple[int, int], fmt: str
) -> tuple[bytes, str]:
    """The picture (PNG, SVG or PDF bytes) and a caption of one unit's field on `img`
    (H x W x 3 floats in 0..1, from picture.read_image)."""
    f = field_of(analysis, node, unit)
    h, w = img.shape[:2]
    small = max(h, w) <= SMALL
    with style():
        fig = _enlarged(img, analysis, node, f) if small else _large(img, f)
        data = save(fig, fmt)
    text = (
        f"unit ({unit[0]}, {unit[1]}) of '{node.name}' sees rows {f.rows[0]:g}..{f.rows[1]:g}"
        f", columns {f.cols[0]:g}..{f.cols[1]:g} (centre {f.centre[0]:g},{f.centre[1]:g})"
        + (f"; drawn enlarged, {h} x {w} pixels" if small else "")
    )
    return data, text
