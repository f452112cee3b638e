"""`dslc rf --plot`: field size and jump against depth, one or several networks on one figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dslc.ir.graph import Node
from dslc.passes import Analysis
from dslc.report.picture import new_figure, save, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Curve", "curve", "rf_plot"]

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


@dataclass(frozen=True, slots=True)
class Curve:
    """One network's path, one point per depth (the longest path from the input, in layers):
    the layer with the largest field at that depth, its size and jump (height, width)."""

    network: str
    layer: str
    params: int
    names: tuple[str, ...]
    size: tuple[tuple[float, float], ...]
    jump: tuple[tuple[float, float], ...]

    def blocks(self) -> list[tuple[int, int, str]]:
        """(first depth, last depth, name) of each top-level block the path goes through."""
        out: list[tuple[int, int, str]] = []
        for k, name in enumerate(self.names):
            top = name.split(".")[0] if "." in name else ""
            if out and out[-1][2] == top:
                out[-1] = (out[-1][0], k, top)
            elif top:
                out.append((k, k, top))
        return out


def _widest_path(analysis: Analysis, target: Node) -> list[Node]:
    """From the input to `target`, stepping back each time to the input with the widest
    field: through a residual block its body, not the shortcut's one layer."""

    def width(i: int) -> tuple[float, float]:
        rf = analysis.rfs[i]
        return (float(rf.h.size * rf.w.size), float(rf.h.jump * rf.w.jump)) if rf else (-1, -1)

    g = analysis.graph
    path = [target]
    while path[-1].inputs:
        path.append(g.node(max(path[-1].inputs, key=width)))
    return path[::-1]


def curve(analysis: Analysis, target: Node) -> Curve:
    """The curve along the widest path to `target` (layers without a field left out)."""
    chosen = [n for n in _widest_path(analysis, target) if analysis.rfs[n.id] is not None]
    rfs = [rf for n in chosen if (rf := analysis.rfs[n.id]) is not None]
    return Curve(
        analysis.graph.name,
        target.name,
        sum(analysis.costs[n.id].params for n in analysis.graph.nodes),
        tuple(n.name for n in chosen),
        tuple((float(rf.h.size), float(rf.w.size)) for rf in rfs),
        tuple((float(rf.h.jump), float(rf.w.jump)) for rf in rfs),
    )


def _plain_log(ax: Axes, values: list[float], ratio: float, base: int) -> None:
    """Log scale with plain numbers when the values span more than `ratio`, else a linear
    scale from 0 (integer ticks for integer values)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo >= ratio:
        ax.set_yscale("log", base=base)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        return
    ax.set_ylim(0, hi * 1.1 + 0.5)
    if all(float(v).is_integer() for v in values):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _lines(
    ax: Axes, c: Curve, values: tuple[tuple[float, float], ...], colour: str, what: str, lw: float
) -> None:
    """One line when height and width agree everywhere, else height solid and width dashed
    with hollow markers, so neither hides the other (and earlier networks' lines are wider, so
    a later one on top of them leaves them visible). Each line's SVG id is `what:network`
    (`:height`, `:width`)."""
    xs = list(range(len(values)))
    hs, ws = [v[0] for v in values], [v[1] for v in values]
    mark = "o" if len(xs) <= 40 else None
    name = f"{c.network} ({c.params:,} params)"
    if hs == ws:
        ax.plot(
            xs,
            hs,
            color=colour,
            marker=mark,
            ms=3 + lw,
            lw=lw,
            label=name,
            gid=f"{what}:{c.network}",
        )
        return
    gid = f"{what}:{c.network}"
    ax.plot(
        xs,
        hs,
        color=colour,
        marker=mark,
        ms=3 + lw,
        lw=lw,
        label=f"{name}, height",
        gid=gid + ":height",
    )
    ax.plot(
        xs,
        ws,
        color=colour,
        ls="--",
        marker="s" if mark else None,
        ms=5 + lw,
        mfc="none",
        lw=lw * 0.75,
        label=f"{name}, width",
        gid=gid + ":width",
    )


def _boundaries(axes: list[Axes], c: Curve, colour: str, row: int) -> None:
    """A dotted line where the path enters each top-level block; names along the top where
    there is room."""
    blocks = c.blocks()
    for first, last, name in blocks:
        for ax in axes:
            ax.axvline(first - 0.5, color=colour, ls=":", lw=1.0)
        if (last - first + 1) * 110 >= len(c.names) * len(name):  # room for the name
            axes[0].text(
                (first + last) / 2,
                0.97 - 0.07 * row,
                name,
                color=colour,
                fontsize=8,
                transform=axes[0].get_xaxis_transform(),
                ha="center",
                va="top",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
            )


def _figure(curves: list[Curve]) -> Any:
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(8.0, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 2)})
    for k, c in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        lw = 1.8 + 1.2 * (len(curves) - 1 - k)
        _lines(top, c, c.size, colour, "size", lw)
        _lines(bottom, c, c.jump, colour, "jump", lw)
        _boundaries([top, bottom], c, colour, k)
    _plain_log(top, [v for c in curves for s in c.size for v in s], 20, 10)
    _plain_log(bottom, [v for c in curves for s in c.jump for v in s], 8, 2)
    top.set_ylabel("field size (input pixels)")
    bottom.set_ylabel("jump (input pixels)")
    bottom.set_xlabel("depth: layers from the input along the path of the widest field")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (top, bottom):
        ax.grid(True, which="major", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
    top.legend(loc="lower right", fontsize=9, framealpha=0.9)
    if len(curves) == 1:
        title = f"Receptive field of '{curves[0].layer}' in {curves[0].network}"
    else:
        title = "Receptive field: " + " vs ".join(c.network for c in curves)
    top.set_title(title)
    fig.set_layout_engine("constrained")
    return fig


def rf_plot(curves: list[Curve], fmt: str) -> bytes:
    """The plot as PNG, SVG or PDF bytes."""
    with style():
        return save(_figure(curves), fmt)
