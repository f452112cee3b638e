"""Wall time of `dslc compile`, `dslc summary` and `dslc check` in fresh processes (start-up
included), and the peak memory of a compile.

    PYTHONPATH=$PWD:$PWD/runtime python3 bench/compile_bench.py [--repeat 5] \\
        [--json bench/results/compile.json] [--baseline DIR] [MODEL ...]

Prints the median of each for every model of the zoo (models/*.xnet and models/lecture/), then
the targets: compile and summary of resnet152, and `dslc check` of the whole zoo (libraries
included) in one process. CPU time (user + system) is printed beside the wall time: on a shared
machine it is the steadier figure. The output file is removed before each compile (untimed), so
the kernel's unlinking of the previous one is not counted. With --baseline DIR (an exported
older tree, e.g. `git archive f70bc08 | tar -x -C /tmp/base`), the same commands also run
with DIR's code (from DIR: `python -m` puts the current folder first on the path),
interleaved run by run, so that both see the same machine load; a baseline from before
`--optimize` compiles plainly in both compile rows.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "compile resnet152": 1.0,
    "compile resnet152 --no-optimize": 1.0,
    "summary resnet152": 0.3,
    "check zoo": 1.0,
}


def zoo() -> list[Path]:
    """Every network of the zoo (models/lib holds block libraries, not networks)."""
    return sorted((ROOT / "models").glob("*.xnet")) + sorted(
        (ROOT / "models" / "lecture").glob("*.xnet")
    )


def _run(args: list[str], code: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one fresh process."""
    env = dict(os.environ, PYTHONPATH=f"{code}:{code / 'runtime'}")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dslc", *args],
        cwd=code,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    if status != 0:
        raise SystemExit(f"dslc {' '.join(args)} failed:\n{err.decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(
    args: list[str],
    codes: list[Path],
    repeat: int,
    out: Path | None = None,
    base_args: list[str] | None = None,
) -> list[dict[str, float]]:
    """Median wall, CPU and max RSS of `repeat` runs per code tree, interleaved (the baseline
    runs `base_args` when given: it may not know every option)."""
    runs: list[list[tuple[float, float, float]]] = [[] for _ in codes]
    for _ in range(repeat):
        for k, code in enumerate(codes):
            if out is not None:
                out.unlink(missing_ok=True)
            runs[k].append(_run(args if k == 0 or base_args is None else base_args, code))
    return [
        {
            "wall_s": round(statistics.median(r[0] for r in rs), 3),
            "cpu_s": round(statistics.median(r[1] for r in rs), 3),
            "peak_rss_mib": round(max(r[2] for r in rs), 1),
        }
        for rs in runs
    ]


def _show(label: str, results: list[dict[str, float]], extra: str = "") -> None:
    cols = "   ".join(
        f"{r['wall_s']:6.3f} s wall {r['cpu_s']:6.3f} s cpu {r['peak_rss_mib']:5.0f} M"
        for r in results
    )
    print(f"{label:32s} {cols} {extra}", flush=True)


def main() -> None:
    """Measure and print (and optionally save) the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--baseline", type=Path, help="an older tree to time alongside")
    parser.add_argument("--targets-only", action="store_true")
    parser.add_argument("models", nargs="*", type=Path, help="default: the whole zoo")
    opts = parser.parse_args()
    codes = [ROOT, *([opts.baseline.resolve()] if opts.baseline else [])]
    print("columns: this tree" + (f", then {opts.baseline}" if opts.baseline else ""))
    rows: dict[str, dict[str, object]] = {}
    targets: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.onnx"
        for model in [] if opts.targets_only else [m.resolve() for m in opts.models] or zoo():
            name = str(model.relative_to(ROOT / "models").with_suffix(""))
            comp = measure(["compile", str(model), "-o", str(out)], codes, opts.repeat, out)
            summ = measure(["summary", str(model)], codes, opts.repeat)
            size = out.stat().st_size / 2**20
            rows[name] = {"compile": comp, "summary": summ, "onnx_mib": round(size, 2)}
            _show(f"{name} compile", comp, f"({size:.1f} MiB written)")
            _show(f"{name} summary", summ)
        r152 = str(ROOT / "models" / "resnet152.xnet")
        checked = [str(p) for p in zoo() + sorted((ROOT / "models" / "lib").glob("*.xnet"))]
        plain = ["compile", r152, "-o", str(out)]
        for label, args, target_out in (
            ("compile resnet152", plain, out),
            ("compile resnet152 --no-optimize", [*plain, "--no-optimize"], out),
            ("summary resnet152", ["summary", r152], None),
            ("check zoo", ["check", *checked], None),
        ):
            res = measure(args, codes, opts.repeat, target_out, plain if target_out else None)
            extra = f"(target {TARGETS[label]} s)"
            if target_out is not None:
                weights = out.stat().st_size / 2**20
                extra += f"  peak RSS / file size {res[0]['peak_rss_mib'] / weights:.2f}"
            _show(label, res, extra)
            targets[label] = res
    if opts.json:
        info = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "repeat": opts.repeat,
            "columns": ["this tree", *(["baseline"] if opts.baseline else [])],
            "models": rows,
            "targets": targets,
        }
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(info, indent=1) + "\n")


if __name__ == "__main__":
    main()
