"""`dslc diff`: two networks side by side, in total and per top-level stage. Pure functions.

A stage is a row of `summary --depth 1`: a top-level block (a label's scope, `layer1`) or a
top-level layer. Stages are paired by name where both networks have one (difflib's longest
matching runs, so an inserted stage does not shift the others), else shown on one side only.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from dslc.ir import dims
from dslc.ir.dims import Dim
from dslc.passes import Analysis
from dslc.passes.cost import total
from dslc.report.summary import activation_total, dtype_bytes, top_node
from dslc.report.table import Row, build_rows, cells

__all__ = ["NUMBERS", "diff_json", "render_diff"]

NUMBERS = ("params", "buffers", "macs", "flops", "activation_bytes", "peak_activation_bytes")
_STAGE_NUMBERS = ("params", "macs", "flops", "output_bytes")


def diff_json(a: Analysis, b: Analysis, files: tuple[str, str], dtype: str) -> dict[str, Any]:
    """The `dslc diff --json` document: each network's totals, B - A, and the stages."""
    ta, tb = _totals(a, dtype), _totals(b, dtype)
    return {
        "schema": 1,
        "a": _network(a, files[0], ta, dtype),
        "b": _network(b, files[1], tb, dtype),
        "difference": {k: dims.to_json(dims.sub(tb[k], ta[k])) for k in NUMBERS},
        "stages": _stages(a, b, dtype),
    }


def _totals(x: Analysis, dtype: str) -> dict[str, Dim]:
    t = total(x.costs)
    size = dtype_bytes(dtype)
    return {
        "params": t.params,
        "buffers": t.buffers,
        "macs": t.macs,
        "flops": t.flops,
        "activation_bytes": dims.mul(activation_total(x), size),
        "peak_activation_bytes": dims.mul(x.memory.peak, size),
    }


def _shape(x: Analysis, node_id: int) -> list[int | str]:
    return [dims.to_json(d) for d in x.shapes[node_id]]


def _network(x: Analysis, file: str, t: dict[str, Dim], dtype: str) -> dict[str, Any]:
    g = x.graph
    top = top_node(x)
    rf = x.rfs[top.id] if top else None
    names = g.output_names or ("output",) * len(g.outputs)
    return {
        "file": file,
        "network": g.name,
        "inputs": [{"name": g.node(i).name, "shape": _shape(x, i)} for i in g.inputs],
        "outputs": [{"name": n, "shape": _shape(x, i)} for n, i in zip(names, g.outputs)],
        **{k: dims.to_json(v) for k, v in t.items()},
        "dtype": dtype,
        "receptive_field": rf.as_json() if rf else None,
        "receptive_field_layer": top.name if top else None,
        "sizes_given": dict(x.given),
    }


def _stage(x: Analysis, row: Row, dtype: str) -> dict[str, Any]:
    last = row.last or row.node
    rf = x.rfs[last.id]
    return {
        "name": row.name,
        "kind": row.kind,
        "op": cells(x, row, ("op",), dtype)[0],
        "params": row.params,
        "macs": dims.to_json(row.macs),
        "flops": dims.to_json(row.flops),
        "output_shape": _shape(x, last.id),
        "output_bytes": dims.to_json(dims.mul(row.out_elems, dtype_bytes(dtype))),
        "receptive_field": rf.as_json() if rf else None,
    }


def _stages(a: Analysis, b: Analysis, dtype: str) -> list[dict[str, Any]]:
    """Pairs {"a": stage or None, "b": stage or None}, in the order of both networks."""
    ra, rb = build_rows(a, 1), build_rows(b, 1)
    match = difflib.SequenceMatcher(None, [r.name for r in ra], [r.name for r in rb], False)
    pairs: list[dict[str, Any]] = []
    for op, i1, i2, j1, j2 in match.get_opcodes():
        if op == "equal":
            pairs += [
                {"a": _stage(a, ra[i], dtype), "b": _stage(b, rb[j], dtype)}
                for i, j in zip(range(i1, i2), range(j1, j2))
            ]
            continue
        pairs += [{"a": _stage(a, ra[i], dtype), "b": None} for i in range(i1, i2)]
        pairs += [{"a": None, "b": _stage(b, rb[j], dtype)} for j in range(j1, j2)]
    return pairs


def render_diff(doc: dict[str, Any]) -> str:
    """The diff document as two aligned tables: the totals, then the stages."""
    a, b = doc["a"], doc["b"]
    rows = [["", f"A: {a['network']}", f"B: {b['network']}", "B - A"]]
    rows.append(["file", a["file"], b["file"], ""])
    for key in ("inputs", "outputs"):
        ia, ib = _ios(a[key]), _ios(b[key])
        rows.append([key[:-1], ia, ib, _same(ia, ib)])
    for key, label in zip(NUMBERS, _LABELS):
        rows.append([label, _n(a[key]), _n(b[key]), _change(a[key], b[key])])
    ra, rb = a["receptive_field"], b["receptive_field"]
    rows.append(["receptive field", _rf(ra), _rf(rb), _rf_change(ra, rb)])
    given = {**a["sizes_given"], **b["sizes_given"]}
    lines = _align(rows)
    if given:
        lines.append("sizes given: " + ", ".join(f"{k}={v}" for k, v in given.items()))
    lines += ["", "Stages (as summary --depth 1; A left, B right)"]
    head = ["stage", "params A", "params B", "MACs A", "MACs B", "RF A", "RF B"]
    stage_rows = [[*head, "output A", "output B"]]
    for pair in doc["stages"]:
        stage_rows.append(_stage_row(pair["a"], pair["b"]))
    lines += _align(stage_rows)
    lines.append(f"bytes as {a['dtype']}; MACs and FLOPs per sample; B - A: B's figure minus A's")
    return "\n".join(lines) + "\n"


_LABELS = ("params", "buffers", "MACs", "FLOPs", "activation bytes", "peak activations")


def _stage_row(sa: dict[str, Any] | None, sb: dict[str, Any] | None) -> list[str]:
    name = (sa or sb or {}).get("name", "-")

    def get(s: dict[str, Any] | None, key: str) -> str:
        if s is None:
            return "-"
        if key == "rf":
            return _rf(s["receptive_field"], jump=False)
        if key == "output_shape":
            return " x ".join(str(d) for d in s[key])
        return _n(s[key])

    keys = ("params", "macs", "rf", "output_shape")
    return [name, *(get(s, k) for k in keys for s in (sa, sb))]


def _ios(items: list[dict[str, Any]]) -> str:
    return ", ".join(" x ".join(str(d) for d in item["shape"]) for item in items)


def _n(v: int | str) -> str:
    return f"{v:,}" if isinstance(v, int) else v


def _change(a: int | str, b: int | str) -> str:
    if not isinstance(a, int) or not isinstance(b, int):
        return "-" if a != b else "same"
    if a == b:
        return "same"
    pct = f" ({(b - a) / a * 100:+.1f}%)" if a else ""
    return f"{b - a:+,}{pct}"


def _same(a: str, b: str) -> str:
    return "same" if a == b else "differs"


def _rf_change(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """B's field size minus A's when both are square and whole, else same / differs."""
    if a == b:
        return "same"
    sizes = [x["size"] for x in (a, b) if x]
    if len(sizes) == 2 and all(len(set(v)) == 1 and isinstance(v[0], int) for v in sizes):
        return f"size {sizes[1][0] - sizes[0][0]:+}"
    return "differs"


def _rf(rf: dict[str, list[int | float]] | None, jump: bool = True) -> str:
    if rf is None:
        return "-"

    def pair(key: str) -> str:
        h, w = (f"{v:g}" if isinstance(v, float) else str(v) for v in rf[key])
        return h if h == w else f"{h}x{w}"

    return f"{pair('size')} (jump {pair('jump')})" if jump else pair("size")


def _align(rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell; numbers to the right, and in a column of numbers
    its heading and dashes too."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = [
        all(_NUMBER.match(r[i]) or r[i] == "-" for r in rows[1:]) for i in range(len(widths))
    ]

    def right(i: int, cell: str) -> bool:
        return bool(_NUMBER.match(cell)) or numeric[i] or cell in ("same", "differs")

    return [
        "  ".join(
            cell.rjust(w) if right(i, cell) else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in rows
    ]


_NUMBER = re.compile(r"([+-]|size [+-])?[0-9][0-9,]*( \(.*\))?$")
