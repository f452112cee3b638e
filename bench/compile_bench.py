"""Wall time of `dslc compile` and `dslc summary` in fresh processes (start-up included).

    python3 bench/compile_bench.py [--repeat 5] [--json bench/results/compile.json]

Prints the median of each for every model in models/.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t


def main() -> None:
    """Measure and print (and optionally save) the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    opts = parser.parse_args()
    dslc = [sys.executable, "-m", "dslc"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in sorted((ROOT / "models").glob("*.xnet")):
            out = Path(tmp) / "m.onnx"
            compile_runs = [_timed([*dslc, "compile", str(model), "-o", str(out)])
                            for _ in range(opts.repeat)]
            summary_runs = [_timed([*dslc, "summary", str(model)]) for _ in range(opts.repeat)]
            rows[model.stem] = {
                "compile_s": round(statistics.median(compile_runs), 3),
                "summary_s": round(statistics.median(summary_runs), 3),
                "onnx_mib": round(out.stat().st_size / 2**20, 1),
            }
            print(f"{model.stem:12s} compile {rows[model.stem]['compile_s']:.3f} s  "
                  f"summary {rows[model.stem]['summary_s']:.3f} s  "
                  f"({rows[model.stem]['onnx_mib']} MiB)")
    if opts.json:
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        info = {"machine": f"{platform.machine()}, {platform.python_version()}",
                "repeat": opts.repeat, "models": rows}
        opts.json.write_text(json.dumps(info, indent=1) + "\n")


if __name__ == "__main__":
    main()
