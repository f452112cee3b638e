"""Which consumers accept dslc's models at which opset: every zoo model at every opset.

    PYTHONPATH=$PWD:$PWD/runtime python3 bench/opset_consumers.py --jobs 2 \
        --json bench/results/opset_consumers.json

Each model (models/*.xnet, the inference graph `dslc compile` writes, seed 0) is compiled at
each opset and handed to every consumer installed: ONNX Runtime's CPU session (the reference
output), its ORT-format conversion for mobile builds (the .ort file then run), onnx's
ReferenceEvaluator, onnx2torch, OpenVINO (read, compiled and run on the CPU), onnxsim and
onnxoptimizer (their output run in ONNX Runtime). A consumer passes when it converts the model
and its output matches ONNX Runtime's (max |diff| <= 1e-3 * max |ref| + 1e-4); otherwise
the cell names the ops it failed on where its messages name them. The ORT-format conversion,
the reference evaluator, onnxsim and onnxoptimizer run on a cover of the zoo (the smallest
models that together use every layer kind), the others on every model. Symbolic input sizes
are the smallest the network allows from --size up; the batch is 1. Each model runs in a
fresh process, so one consumer's crash costs one model, not the run; --jobs runs several.
A run split over processes (--only, --models in another order, each with its own --json)
is put together with --merge A.partial B.partial --json OUT. --markdown prints the table for
bench/README.md from a --json file without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPSETS = list(range(17, 27))
CONSUMERS = ["ort", "ort-format", "reference", "onnx2torch", "openvino", "onnxsim", "onnxoptimizer"]
# run on the cover (the fewest small models that use every layer kind the zoo has), not on
# every model: on a shared 2-core machine the whole matrix of these would take hours
COVERED = ["ort-format", "reference", "onnxsim", "onnxoptimizer"]
REFERENCE_MAX_GMACS = 5.0  # onnx's ReferenceEvaluator is numpy: larger models are left out

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opset_runners import RUNNERS, close, feeds_for, first_op, gap, gmacs, run_ort


def one_model(xnet: Path, opsets: list[int], consumers: list[str], size: int) -> None:
    """Every opset of one model through every consumer; one JSON line per (opset, consumer)."""
    import numpy as np

    from dslc.backend.onnx import build, write
    from dslc.compiler import compile_file

    analysis = compile_file(xnet)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for opset in opsets:
            model, arrays = build(analysis, opset=opset, optimize=True)
            path = scratch / f"{xnet.stem}.onnx"
            with path.open("wb") as f:
                write(model, arrays, f)
            feeds = feeds_for(analysis, path, size)
            ref = None
            for name in consumers:
                t0 = time.perf_counter()
                if name == "reference" and gmacs(analysis, feeds) > REFERENCE_MAX_GMACS:
                    row = {"model": xnet.stem, "opset": opset, "consumer": name, "ok": None}
                    print(json.dumps(row | {"op": "", "detail": "skipped", "seconds": 0}))
                    continue
                try:
                    out = (
                        run_ort(path, feeds)
                        if name == "ort"
                        else RUNNERS[name](path, feeds, scratch)
                    )
                    if name == "ort":
                        ref = np.asarray(out, dtype=np.float64)
                        ok = bool(np.isfinite(ref).all())
                        detail = "" if ok else "non-finite output"
                    elif ref is None:
                        ok, detail = bool(np.isfinite(out).all()), "ran (no ORT reference)"
                    else:
                        ok = close(out, ref)
                        detail = (
                            "" if ok else f"output differs from ONNX Runtime's by {gap(out, ref)}"
                        )
                except Exception as exc:  # noqa: BLE001 (a consumer failing is a result)
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
                row = {
                    "model": xnet.stem,
                    "opset": opset,
                    "consumer": name,
                    "ok": ok,
                    "op": "" if ok else first_op(detail),
                    "detail": detail[:400],
                    "seconds": round(time.perf_counter() - t0, 2),
                }
                print(json.dumps(row), flush=True)


def cover(models: list[Path]) -> set[Path]:
    """The smallest models (by parameters) that together use every layer kind (dslc's IR ops)
    the given models use, chosen greedily."""
    from dslc.compiler import compile_file
    from dslc.report.summary import summary_json

    kinds, params = {}, {}
    for xnet in models:
        analysis = compile_file(xnet)
        kinds[xnet] = {node.op.value for node in analysis.graph.nodes}
        params[xnet] = summary_json(analysis)["totals"]["params"]
    chosen: set[Path] = set()
    seen: set[str] = set()
    for xnet in sorted(models, key=lambda m: (params[m], m.name)):
        if kinds[xnet] - seen:
            chosen.add(xnet)
            seen |= kinds[xnet]
    return chosen


def versions() -> dict[str, str]:
    """The consumers' versions, as installed."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in (
        "onnx",
        "onnxruntime",
        "onnx2torch",
        "torch",
        "openvino",
        "onnxsim",
        "onnxoptimizer",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def run_model(
    xnet: Path, opsets: list[int], mine: list[str], size: int, timeout: int
) -> list[dict[str, Any]]:
    """One model in its own process; a crash or a timeout marks its missing cells."""
    env = os.environ | {
        v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    cmd = [sys.executable, __file__, "--one", str(xnet), "--size", str(size)]
    cmd += ["--opsets", ",".join(map(str, opsets)), "--consumers", ",".join(mine)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
        lines, why = done.stdout, f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        lines = out.decode() if isinstance(out, bytes) else out
        why = f"timed out after {timeout} s"
    got = [json.loads(line) for line in lines.splitlines() if line.startswith("{")]
    seen = {(r["opset"], r["consumer"]) for r in got}
    missing = [(o, c) for o in opsets for c in mine if (o, c) not in seen]
    return got + [
        {"model": xnet.stem, "opset": o, "consumer": c, "ok": False, "op": "", "detail": why}
        for o, c in missing
    ]


def run_all(
    models: list[Path],
    opsets: list[int],
    consumers: list[str],
    args: argparse.Namespace,
    partial: Path | None,
) -> list[dict[str, Any]]:
    """The models, --jobs at a time; with --resume, those already in the partial file are
    taken from it."""
    rows: list[dict[str, Any]] = []
    if partial is not None and partial.exists() and args.resume:
        rows = [json.loads(line) for line in partial.read_text(encoding="utf-8").splitlines()]
    done = {r["model"] for r in rows}
    subset = cover(models) if set(consumers) & set(COVERED) else set()
    lock = threading.Lock()

    def one(xnet: Path) -> None:
        mine = [c for c in consumers if xnet in subset or c not in COVERED]
        t0 = time.perf_counter()
        got = run_model(xnet, opsets, mine, args.size, args.timeout)
        bad = sum(r["ok"] is False for r in got)
        with lock:
            rows.extend(got)
            if partial is not None:  # a long run's rows so far, one JSON line each
                with partial.open("a", encoding="utf-8") as f:
                    f.writelines(json.dumps(r) + "\n" for r in got)
            took = time.perf_counter() - t0
            print(f"{xnet.stem}: {len(got) - bad}/{len(got)} pass, {took:.0f} s", file=sys.stderr)

    only = set(args.only.split(",")) if args.only else {m.stem for m in models}
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, [m for m in models if m.stem in only - done]))
    return rows


def cell(rows: list[dict[str, Any]]) -> str:
    """One consumer at one opset over every model: ✓, or ✗ with the ops it failed on, most
    frequent first (three at most), and how many models failed."""
    rows = [r for r in rows if r["ok"] is not None]  # skipped
    bad = [r for r in rows if not r["ok"]]
    if not bad:
        return "✓" if rows else "–"
    ops: dict[str, int] = {}
    for r in bad:
        ops[r["op"] or "?"] = ops.get(r["op"] or "?", 0) + 1
    named = sorted(ops, key=lambda k: (-ops[k], k == "?", k))[:3]
    return f"✗ {', '.join(named)} ({len(bad)}/{len(rows)})"


def markdown(result: dict[str, Any]) -> str:
    """The table: a row per consumer, a column per opset; neighbouring opsets whose column is
    the same are one column (`22-26`)."""
    rows, opsets = result["rows"], result["opsets"]
    consumers = list(dict.fromkeys(r["consumer"] for r in rows))
    columns: list[tuple[list[int], list[str]]] = []
    for o in opsets:
        col = [cell([r for r in rows if r["consumer"] == c and r["opset"] == o]) for c in consumers]
        if columns and columns[-1][1] == col and columns[-1][0][-1] == o - 1:
            columns[-1][0].append(o)
        else:
            columns.append(([o], col))
    heads = [f"{g[0]}" if len(g) == 1 else f"{g[0]}–{g[-1]}" for g, _ in columns]
    lines = ["| consumer | " + " | ".join(heads) + " |", "| --- |" + " :-: |" * len(heads)]
    models = len({r["model"] for r in rows})
    for i, c in enumerate(consumers):
        ran = len({r["model"] for r in rows if r["consumer"] == c and r["ok"] is not None})
        label = c if ran == models else f"{c} ({ran} of {models} models)"
        lines.append(f"| {label} | " + " | ".join(col[i] for _, col in columns) + " |")
    return "\n".join(lines)


def main() -> int:
    """Run the models (or one, --one, as the worker), or print the table of a --json file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", help="the .xnet files [default: models/*.xnet]")
    ap.add_argument("--opsets", default=",".join(map(str, OPSETS)))
    ap.add_argument("--consumers", default=",".join(CONSUMERS))
    ap.add_argument("--size", type=int, default=64, help="symbolic sizes from this up")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per model")
    ap.add_argument("--jobs", type=int, default=1, help="models at a time, each a process")
    ap.add_argument("--only", help="run these models (names, by commas) of --models")
    ap.add_argument("--resume", action="store_true", help="keep the models of --json.partial")
    ap.add_argument("--json", help="write the rows here (or, with --markdown, read them)")
    ap.add_argument("--markdown", action="store_true", help="print the table of --json")
    ap.add_argument(
        "--merge", nargs="+", metavar="PARTIAL", help="write --json from runs' .partial files"
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    opsets = [int(o) for o in args.opsets.split(",")]
    consumers = args.consumers.split(",")
    if args.one:
        one_model(Path(args.one), opsets, consumers, args.size)
        return 0
    if args.markdown:
        print(markdown(json.loads(Path(args.json).read_text(encoding="utf-8"))))
        return 0
    models = (
        [Path(m) for m in args.models] if args.models else sorted((ROOT / "models").glob("*.xnet"))
    )
    t0 = time.perf_counter()
    partial = Path(args.json + ".partial") if args.json else None
    if args.merge:  # a run split over processes: each (model, opset, consumer) once
        found = [json.loads(ln) for p in args.merge for ln in Path(p).read_text().splitlines()]
        # a cell a process measured wins over one a runner filled in for a killed process
        found.sort(key=lambda r: "seconds" in r)
        rows = list({(r["model"], r["opset"], r["consumer"]): r for r in found}.values())
    else:
        rows = run_all(models, opsets, consumers, args, partial)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.processor() or '?'}",
        "versions": versions(),
        "size": args.size,
        "opsets": opsets,
        "seconds": None if args.merge else round(time.perf_counter() - t0),
        "rows": rows,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=0) + "\n", encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
