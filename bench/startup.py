"""Issue 16, part 1: the compiler's start-up and speed targets, measured side by side.

    python3 bench/startup.py --torch-python /path/to/torch-venv/bin/python \\
        [--repeat 7] [--baseline DIR] [--json bench/results/startup.json]

Fresh processes, wall time (CPU time beside it), the median of --repeat runs, for `dslc compile`
of lenet5 and resnet152, and `dslc check` / `dslc summary` of lenet5 and resnet152. Beside them,
in the same run: torch.onnx.export (the TorchScript exporter, opset 17, as
bench/cpu_vs_torchvision.py calls it) of torchvision's resnet152, timed in-process with torch
imported and the model built (not counted), with the interpreter given by --torch-python (a
venv with torch==2.13.0+cpu and torchvision==0.28.0; imported as tests/torchvision_shim.py does).
Run it with the interpreter of a plain (not editable) install of dslc's dependencies: the
tree under test comes first on PYTHONPATH, as in bench/compile_bench.py, whose --baseline DIR
(an exported older tree) this shares: its runs interleave with this tree's.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile_bench import measure

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {  # seconds, or a fraction of torch.onnx.export's time
    "compile lenet5": 0.3,
    "check lenet5": 0.15,
    "summary lenet5": 0.15,
    "check resnet152": 0.15,
    "summary resnet152": 0.15,
    "compile resnet152 / torch.onnx.export": 0.25,
}

EXPORT = """
import json, sys, time
import torch
try:
    import torchvision
except RuntimeError as exc:  # a CUDA torchvision wheel beside a CPU torch (torchvision_shim.py)
    if "torchvision::" not in str(exc):
        raise
    for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
        del sys.modules[name]
    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision
torch.manual_seed(0)
model = torchvision.models.resnet152(weights=None).eval()
x = torch.randn(1, 3, 224, 224)
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    torch.onnx.export(model, (x,), sys.argv[1], dynamo=False, input_names=["image"],
                      output_names=["output"], dynamic_axes={"image": {0: "N"}, "output": {0: "N"}},
                      opset_version=17)
    times.append(time.perf_counter() - start)
print(json.dumps({"times": times, "torch": torch.__version__,
                  "torchvision": torchvision.__version__}))
"""


def torch_export(python: str, repeat: int, out: Path) -> dict[str, object]:
    """torch.onnx.export of resnet152, `repeat` times in one process: the first (a fresh
    process's) and the median of the rest."""
    done = subprocess.run(
        [python, "-c", EXPORT, str(out), str(repeat)], capture_output=True, text=True, check=True
    )
    info: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    times = info["times"]
    assert isinstance(times, list)
    info["first_s"] = round(times[0], 3)
    info["median_s"] = round(statistics.median(times[1:] or times), 3)
    info["onnx_mib"] = round(out.stat().st_size / 2**20, 1)
    return info


def main() -> None:
    """Measure, print and optionally save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--torch-python", help="python of a venv with torch and torchvision")
    parser.add_argument("--baseline", type=Path, help="an older tree to time alongside")
    parser.add_argument("--json", type=Path)
    opts = parser.parse_args()
    codes = [ROOT, *([opts.baseline.resolve()] if opts.baseline else [])]
    print(
        "columns: wall / CPU seconds, this tree" + (", then the baseline" if opts.baseline else "")
    )
    rows: dict[str, list[dict[str, float]]] = {}
    export: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.onnx"
        for name in ("lenet5", "resnet152"):
            model = str(ROOT / "models" / f"{name}.xnet")
            for command in ("check", "summary", "compile"):
                args = [command, model] + (["-o", str(out)] if command == "compile" else [])
                label = f"{command} {name}"
                rows[label] = measure(
                    args, codes, opts.repeat, out if command == "compile" else None
                )
                cells = "   ".join(f"{r['wall_s']:.3f} / {r['cpu_s']:.3f}" for r in rows[label])
                target = f"(target {TARGETS[label]} s)" if label in TARGETS else ""
                print(f"{label:20s} {cells}  {target}", flush=True)
        if opts.torch_python:
            export = torch_export(opts.torch_python, opts.repeat, Path(tmp) / "tv.onnx")
            base = float(export["median_s"])  # type: ignore[arg-type]
            print(
                f"torch.onnx.export resnet152 (torch {export['torch']}, in-process): first "
                f"{export['first_s']} s, then median {base} s"
            )
            ratios = [round(r["wall_s"] / base, 3) for r in rows["compile resnet152"]]
            export["ratios"] = ratios
            print(f"compile resnet152 / torch.onnx.export: {ratios}  (target 0.25)")
    if opts.json:
        info = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end",
            "repeat": opts.repeat,
            "columns": ["this tree", *(["baseline"] if opts.baseline else [])],
            "dslc": rows,
            "torch_onnx_export_resnet152": export,
            "targets": TARGETS,
        }
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(info, indent=1) + "\n")


if __name__ == "__main__":
    main()
