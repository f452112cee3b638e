"""Which consumers accept dslc's models at which opset: every zoo model at every opset.

    PYTHONPATH=$PWD:$PWD/runtime python3 bench/opset_consumers.py \
        --json bench/results/opset_consumers.json

Each model (models/*.xnet, the inference graph `dslc compile` writes, seed 0) is compiled at
each opset and handed to every consumer installed: ONNX Runtime's CPU session (the reference
output), its ORT-format conversion for mobile builds (the .ort file then run), onnx's
ReferenceEvaluator, onnx2torch, OpenVINO (read, compiled and run on the CPU), onnxsim and
onnxoptimizer (their output run in ONNX Runtime). A consumer passes when it converts the model
and its output matches ONNX Runtime's (max |diff| <= 1e-3 * max |ref| + 1e-4); otherwise
the cell names the first op it failed on where its message names one. Symbolic input sizes
are the smallest the network allows from --size up; the batch is 1. Each model runs in a
fresh process, so one consumer's crash costs one model, not the run. --markdown prints the
table for bench/README.md from a --json file without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPSETS = list(range(17, 27))
CONSUMERS = ["ort", "ort-format", "reference", "onnx2torch", "openvino", "onnxsim", "onnxoptimizer"]
# run on the cover (the fewest small models that use every layer kind the zoo has), not on
# every model: on a shared 2-core machine the whole matrix of these would take hours
COVERED = ["ort-format", "reference", "onnxsim", "onnxoptimizer"]
RTOL, ATOL = 1e-3, 1e-4
REFERENCE_MAX_GMACS = 5.0  # onnx's ReferenceEvaluator is numpy: larger models are left out
# op names as consumers' messages give them: onnx2torch's OperationDescription, OpenVINO's
# "not supported ... ONNX operations: Flatten-21", ORT's "op_type:X", onnx's "No Op registered"
OP_PATTERNS = [
    r"operation_type='(\w+)', version=(\d+)",
    r"ONNX operations?:?\s*(?:\w+\.)?(\w+)-(\d+)",
    r"op_type:\s*(\w+)",
    r"for (\w+) with domain_version of (\d+)",
    r"No Op registered for (\w+)",
    r"Unable to find a (?:valid )?(?:converter|implementation) for (\w+)",
]


def first_op(message: str) -> str:
    """The op a consumer's message names, as Name-version where it gives the version."""
    for pattern in OP_PATTERNS:
        m = re.search(pattern, message)
        if m:
            return "-".join(g for g in m.groups() if g)
    return ""


def import_torch() -> Any:
    """torch, with torchvision importable (onnx2torch imports it) beside a CPU torch build:
    the CUDA wheel's two C schemas are declared, as tests/torchvision_shim.py does."""
    import torch

    try:
        import torchvision
    except RuntimeError:
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        sys.modules["_opset_consumers_torchvision_lib"] = lib  # type: ignore[assignment]
        import torchvision  # noqa: F401
    return torch


def close(out: Any, ref: Any) -> bool:
    """Whether a consumer's output matches ONNX Runtime's."""
    import numpy as np

    out = np.asarray(out, dtype=np.float64).reshape(ref.shape)
    return bool(np.abs(out - ref).max() <= RTOL * np.abs(ref).max() + ATOL)


def gap(out: Any, ref: Any) -> str:
    """The largest difference, relative to the reference's largest value."""
    import numpy as np

    diff = np.abs(np.asarray(out, dtype=np.float64).reshape(ref.shape) - ref).max()
    return f"{diff / np.abs(ref).max():.1e} of its largest value"


def run_ort(path: Path, feeds: dict[str, Any]) -> Any:
    """ONNX Runtime's CPU session's first output."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def c_ort_format(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """ORT's mobile conversion (tools.convert_onnx_models_to_ort), then the .ort file run."""
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    out = scratch / "ort"
    out.mkdir(exist_ok=True)
    convert_onnx_models_to_ort(path, out, [OptimizationStyle.Fixed])
    (ort_file,) = out.glob("*.ort")
    return run_ort(ort_file, feeds)


def c_reference(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """onnx.reference.ReferenceEvaluator, numpy's implementation of the specification."""
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(str(path)).run(None, feeds)[0]


def c_onnx2torch(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """onnx2torch.convert, then the torch module run."""
    torch = import_torch()
    from onnx2torch import convert

    module = convert(str(path)).eval()
    with torch.no_grad():
        out = module(*(torch.from_numpy(v) for v in feeds.values()))
    return (out[0] if isinstance(out, (list, tuple)) else out).numpy()


def c_openvino(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """OpenVINO's ONNX frontend (read_model), compiled for and run on the CPU."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(path)),
        "CPU",
        {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"},
    )
    return compiled(list(feeds.values()))[compiled.output(0)]


def c_onnxsim(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """onnxsim.simplify at the inputs' sizes (its own check on), the result run in ORT."""
    import onnx
    import onnxsim

    shapes = {k: list(v.shape) for k, v in feeds.items()}
    model, ok = onnxsim.simplify(str(path), check_n=1, overwrite_input_shapes=shapes)
    if not ok:
        raise RuntimeError("onnxsim: its check of the simplified model failed")
    out = scratch / "sim.onnx"
    onnx.save(model, str(out))
    return run_ort(out, feeds)


def c_onnxoptimizer(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """onnxoptimizer.optimize with its default passes, the result checked and run in ORT."""
    import onnx
    import onnxoptimizer

    model = onnxoptimizer.optimize(onnx.load(str(path)))
    onnx.checker.check_model(model)
    out = scratch / "opt.onnx"
    onnx.save(model, str(out))
    return run_ort(out, feeds)


RUNNERS: dict[str, Callable[[Path, dict[str, Any], Path], Any]] = {
    "ort-format": c_ort_format,
    "reference": c_reference,
    "onnx2torch": c_onnx2torch,
    "openvino": c_openvino,
    "onnxsim": c_onnxsim,
    "onnxoptimizer": c_onnxoptimizer,
}


def feeds_for(analysis: Any, path: Path, size: int) -> dict[str, Any]:
    """A random input of each model input's shape: batch 1, each symbolic size the smallest
    the network allows from `size` up."""
    import numpy as np
    import onnx

    rules = {r.symbol: r for r in analysis.sizes}
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in onnx.load(str(path), load_external_data=False).graph.input:
        dims = []
        for i, d in enumerate(inp.type.tensor_type.shape.dim):
            if d.HasField("dim_value"):
                dims.append(d.dim_value)
            elif i == 0:
                dims.append(1)
            else:
                rule = rules.get(d.dim_param)
                n = size
                while rule is not None and not rule.allows(n):
                    n += 1
                dims.append(n)
        feeds[inp.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def gmacs(analysis: Any, feeds: dict[str, Any]) -> float:
    """The model's multiply-adds at the fed sizes, in billions."""
    from dslc.report.summary import summary_json

    macs = summary_json(analysis)["totals"]["macs"]
    if isinstance(macs, str):  # symbolic: `733888*H*W`
        shape = next(iter(feeds.values())).shape
        macs = eval(macs, {"__builtins__": {}}, {"H": shape[-2], "W": shape[-1]})
    return float(macs) / 1e9


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

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, [m for m in models if m.stem not in done]))
    return rows


def cell(rows: list[dict[str, Any]]) -> str:
    """One consumer at one opset over every model: ✓, or ✗ with the op failing most often."""
    rows = [r for r in rows if r["ok"] is not None]  # skipped
    bad = [r for r in rows if not r["ok"]]
    if not bad:
        return "✓" if rows else "–"
    ops: dict[str, int] = {}
    for r in bad:
        ops[r["op"] or "?"] = ops.get(r["op"] or "?", 0) + 1
    op = max(ops, key=lambda k: (ops[k], k != "?"))
    return f"✗ {op} ({len(bad)}/{len(rows)})"


def markdown(result: dict[str, Any]) -> str:
    """The table: a row per consumer, a column per opset."""
    rows, opsets = result["rows"], result["opsets"]
    consumers = list(dict.fromkeys(r["consumer"] for r in rows))
    lines = [
        "| consumer | " + " | ".join(map(str, opsets)) + " |",
        "| --- |" + " :-: |" * len(opsets),
    ]
    models = len({r["model"] for r in rows})
    for c in consumers:
        ran = len({r["model"] for r in rows if r["consumer"] == c and r["ok"] is not None})
        label = c if ran == models else f"{c} ({ran} of {models} models)"
        cells = [cell([r for r in rows if r["consumer"] == c and r["opset"] == o]) for o in opsets]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
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
    ap.add_argument("--resume", action="store_true", help="keep the models of --json.partial")
    ap.add_argument("--json", help="write the rows here (or, with --markdown, read them)")
    ap.add_argument("--markdown", action="store_true", help="print the table of --json")
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
    rows = run_all(models, opsets, consumers, args, partial)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.processor() or '?'}",
        "versions": versions(),
        "size": args.size,
        "opsets": opsets,
        "seconds": round(time.perf_counter() - t0),
        "rows": rows,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=0) + "\n", encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
