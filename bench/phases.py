"""Where a compile's time and memory go: phase timings and peak memory for every zoo model.

    PYTHONPATH=$PWD:$PWD/runtime python3 bench/phases.py [--repeat 3] [--json bench/results/phases.json]

Each model is compiled in a fresh process (as `dslc compile` would be), timing each phase:
import (dslc, click, lark, numpy, onnx), parse (building the cached Lark parser included),
expand (AST -> IR graph), analyse (shapes, costs, limits, receptive fields, alignment
warnings), report (what `dslc summary` adds: activation memory, the tree rows, the table),
init (drawing every weight), serialise (the ONNX graph protobuf, with batch norms folded as
`dslc compile` does by default) and write (the .onnx file). The phases call the same functions
as compile_source and `dslc compile`, in the same order, except that the weights are drawn up
front here (compile draws them as the graph is emitted, which the phases could not tell
apart); so peak memory is measured on the real command, by bench/compile_bench.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("import", "parse", "expand", "analyse", "report", "init", "serialise", "write")


def zoo() -> list[Path]:
    """Every network of the zoo (models/lib holds block libraries, not networks)."""
    return sorted((ROOT / "models").glob("*.xnet")) + sorted(
        (ROOT / "models" / "lecture").glob("*.xnet")
    )


def stopwatch() -> tuple[dict[str, float], Callable[[str], None]]:
    """Seconds per phase, and lap(name) that ends the phase `name` now."""
    t: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        t[name] = now - clock[0]
        clock[0] = now

    return t, lap


def analyse(source: Any, lap: Callable[[str], None]) -> Any:
    """Parse, expand, analyse and report one source, calling lap() after each phase; the
    same functions, in the same order, as compile_source and `dslc summary`."""
    from dslc.diagnostics import Sink
    from dslc.expand.limits import Limits
    from dslc.expand.program import build_graph
    from dslc.passes import analyse as run_passes
    from dslc.report.summary import summary_json
    from dslc.report.table import DEFAULT_COLUMNS, build_rows, render_table
    from dslc.syntax.parser import parse

    program = parse(source)
    lap("parse")
    sink, limits = Sink(), Limits()
    expansion = build_graph(source, {}, sink, limits, program)
    sink.raise_if_errors()
    lap("expand")
    analysis = run_passes(expansion.graph, expansion.shapes, expansion.params, limits, sink)
    lap("analyse")
    summary_json(analysis)
    render_table(analysis, build_rows(analysis), DEFAULT_COLUMNS, "float32")
    lap("report")
    return analysis


def one(path: Path, out: Path) -> dict[str, float]:
    """Compile one model in this process, phase by phase; return seconds per phase."""
    t, lap = stopwatch()

    import inspect

    from dslc.backend.init import initial, specs

    try:
        from dslc.backend.init import draw_all
    except ImportError:  # before weights were drawn on threads (to measure older commits)

        def draw_all(nodes, *_):  # type: ignore[no-untyped-def]
            return {s.name: initial(n, s) for n in nodes for s in specs(n) if not s.fixed}

    from dslc.backend.onnx import build, write
    from dslc.source import SourceFile

    lap("import")
    analysis = analyse(SourceFile.read(path), lap)
    graph = analysis.graph
    arrays = draw_all(graph.nodes)
    lap("init")
    optimize = {"optimize": True} if "optimize" in inspect.signature(build).parameters else {}
    model, named = build(analysis, weights=arrays, **optimize)
    encode = model.graph  # dslc's own encoder (a method), or an older tree's onnx.ModelProto
    encode() if callable(encode) else encode.SerializeToString(deterministic=True)
    lap("serialise")
    with open(out, "wb") as f:
        write(model, named, f)
    lap("write")
    t.update(layers=len(graph.nodes) - len(graph.inputs), onnx_mib=out.stat().st_size / 2**20)
    return t


def _child(path: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        res = subprocess.run(
            [sys.executable, __file__, "--one", str(path), "--out", str(Path(tmp) / "m.onnx")],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        row: dict[str, float] = json.loads(res.stdout)
        row["wall"] = time.perf_counter() - start
        return row


def main() -> None:
    """Measure every zoo model (median of --repeat fresh processes) and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("models", nargs="*", type=Path, help="default: the whole zoo")
    opts = parser.parse_args()
    if opts.one:
        print(json.dumps(one(opts.one, opts.out)))
        return
    rows = {}
    keys = (*PHASES, "wall")
    print(f"{'model':26s}" + "".join(f"{k:>10s}" for k in keys) + "   layers  .onnx")
    for path in [p.resolve() for p in opts.models] or zoo():
        runs = [_child(path) for _ in range(opts.repeat)]
        row = {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}
        name = str(path.relative_to(ROOT / "models").with_suffix(""))
        rows[name] = row
        print(
            f"{name:26s}"
            + "".join(f"{row[k]:10.3f}" for k in keys)
            + f"  {int(row['layers']):7d} {row['onnx_mib']:6.1f} M",
            flush=True,
        )
    if opts.json:
        info = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "repeat": opts.repeat,
            "unit": "seconds (median); onnx_mib: MiB written",
            "models": rows,
        }
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(info, indent=1) + "\n")


if __name__ == "__main__":
    main()
