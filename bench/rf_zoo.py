"""Analysed vs measured receptive field of every zoo model (models/**/*.xnet).

Usage: PYTHONPATH=. python3 bench/rf_zoo.py [NAME ...] [--skip NAME ...] > bench/results/rf_zoo.txt
(NAME: a model's file name without .xnet, e.g. resnet50; default: every model.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dslc.backend.rf_measure import MeasureError, default_size, fits, measure
from dslc.compiler import compile_file
from dslc.report.summary import top_node

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    args = sys.argv[1:]
    skip = set(args[args.index("--skip") + 1 :]) if "--skip" in args else set()
    only = set(args[: args.index("--skip")] if "--skip" in args else args)
    bad = 0
    for path in sorted((ROOT / "models").rglob("*.xnet")):
        if ROOT / "models" / "lib" in path.parents:
            continue  # block libraries, not networks
        if (only and path.stem not in only) or path.stem in skip:
            continue
        a = compile_file(path)
        node = top_node(a)
        name = path.relative_to(ROOT).as_posix()
        if node is None:
            print(f"{name}: no spatial output", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            size = default_size(a, node.id)
            got = measure(a, node.id, fits(a, node.id, size) if size else None)
        except MeasureError as exc:
            print(f"{name}: cannot measure: {exc}")
            bad += 1
            continue
        sizes = (got.axis_size(got.h), got.axis_size(got.w))
        verdict = (
            "agree" if not got.disagreements() else "DIFFER: " + "; ".join(got.disagreements())
        )
        if got.resampled:
            verdict = "not compared (resampled path)"
        bad += verdict.startswith("DIFFER")
        an = got.analytic.as_json()["size"]
        print(
            f"{name}: '{got.layer}' analysed {an[0]}x{an[1]}, measured "
            f"{sizes[0]}x{sizes[1]} at input {got.size[0]}x{got.size[1]} "
            f"({time.perf_counter() - t0:.1f} s): {verdict}",
            flush=True,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
