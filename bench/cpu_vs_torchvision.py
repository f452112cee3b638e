"""Our ResNet-50 against torchvision's ResNet-50 exported with torch.onnx.export, side by side
on the same ONNX Runtime CPU session options, with the same weights.

Needs torch and torchvision besides dslc (see README: "Checking the zoo against torchvision").
Usage:
    PYTHONPATH=$PWD:$PWD/runtime python bench/cpu_vs_torchvision.py \
        [--model resnet50] [--batch 1 8] [--rounds 7] [--json bench/results/cpu_vs_torchvision.json]

The models are timed in interleaved rounds (A, B, C, A, B, C, ...) so that a noisy machine
slows all of them alike; each round is the median of `--runs` session.run calls after warm-up.
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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _export_torchvision(name: str, folder: Path) -> tuple[Path, Path]:
    """torchvision's model (random weights, eval mode) as ONNX, and its state_dict."""
    import torch
    import torchvision

    from dslc.backend.weights import save_safetensors

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    weights = folder / "w.safetensors"
    save_safetensors(weights, {k: v.numpy() for k, v in model.state_dict().items()})
    onnx_path = folder / f"torchvision_{name}.onnx"
    x = torch.randn(1, 3, 224, 224)
    kwargs: dict[str, Any] = {
        "input_names": ["image"],
        "output_names": ["output"],
        "dynamic_axes": {"image": {0: "N"}, "output": {0: "N"}},
        "opset_version": 17,
    }
    try:
        torch.onnx.export(model, (x,), str(onnx_path), dynamo=False, **kwargs)
    except TypeError:  # older torch without the dynamo switch
        torch.onnx.export(model, (x,), str(onnx_path), **kwargs)
    return onnx_path, weights


def _compile(name: str, weights: Path, out: Path, *extra: str) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dslc",
            "compile",
            str(ROOT / "models" / f"{name}.xnet"),
            "-o",
            str(out),
            "--weights",
            str(weights),
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    return out


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _round(session: Any, x: np.ndarray, runs: int) -> float:
    name = session.get_inputs()[0].name
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        theirs, weights = _export_torchvision(args.model, folder)
        models = {
            "torchvision export": theirs,
            "dslc --optimize (default)": _compile(args.model, weights, folder / "opt.onnx"),
            "dslc --no-optimize": _compile(
                args.model, weights, folder / "plain.onnx", "--no-optimize"
            ),
        }
        sessions = {k: _session(p) for k, p in models.items()}
        rng = np.random.default_rng(0)
        results: dict[str, dict[str, float]] = {k: {} for k in models}
        for batch in args.batch:
            x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
            outs = {k: s.run(None, {s.get_inputs()[0].name: x})[0] for k, s in sessions.items()}
            ref = outs["torchvision export"]
            for k, y in outs.items():  # same weights: same outputs
                assert np.abs(y - ref).max() <= 1e-3 * max(1.0, float(np.abs(ref).max())), k
            for s in sessions.values():  # warm-up
                _round(s, x, 2)
            rounds: dict[str, list[float]] = {k: [] for k in models}
            for _ in range(args.rounds):
                for k, s in sessions.items():
                    rounds[k].append(_round(s, x, args.runs))
            for k in models:
                results[k][f"batch{batch}_ms"] = round(statistics.median(rounds[k]) * 1e3, 2)
    report = {
        "model": args.model,
        "machine": f"{platform.machine()}, {_cores()} cores",
        "onnxruntime": ort.__version__,
        "provider": "CPUExecutionProvider",
        "method": f"median of {args.rounds} interleaved rounds, each the median of "
        f"{args.runs} runs",
        "results": results,
    }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
