"""INT8 against float32 on ONNX Runtime's CPU provider (`dslc quantize`, issue 16 part 3):
ResNet-50's latency for several ways of quantizing it, its top-1 agreement with float32 on
natural images, ConvNeXt-tiny with and without Q/DQ pairs around ops that have no int8
kernel, and a digits-trained LeNet-5's accuracy.

Usage:
    PYTHONPATH=$PWD:$PWD/runtime python bench/quantize_bench.py \
        [--rounds 5] [--runs 15] [--samples 32] [--images 64] [--only resnet50,convnext_tiny,…]
        [--json bench/results/quantize.json]

Images: there is no ImageNet here and nothing is downloaded. The "natural" images are random
square crops (side 120..420 px, random position and flip) of the two photographs scikit-learn
bundles (china.jpg, flower.jpg), written as PNGs: one set to calibrate on, another to compare
on. ResNet-50 has dslc's seeded weights (no pretrained weights are reachable offline).
The LeNet-5 is trained here with a few lines of PyTorch, or given as `dslc train`'s weights
(--lenet-weights).

Latency: batch 1, intra-op threads 2, ORT_ENABLE_ALL unless a row says otherwise; the models
are timed in interleaved rounds (A, B, C, A, B, C, ...) so that a busy machine slows all of
them alike; each round is the median of --runs session.run calls after 3 warm-up runs, and the
table gives the median round (and the range of the rounds).
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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
Array = np.ndarray[Any, Any]


def dslc(*args: Any) -> None:
    command = [sys.executable, "-m", "dslc", *map(str, args)]
    subprocess.run(command, check=True, cwd=ROOT, stdout=sys.stderr)  # stdout: the JSON only


def write_crops(folder: Path, count: int, seed: int) -> None:
    """`count` random square crops of scikit-learn's two bundled photographs, as PNGs."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(a) for a in load_sample_images().images]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        photo = photos[int(rng.integers(len(photos)))]
        side = int(rng.integers(120, 420))
        x, y = int(rng.integers(0, photo.width - side)), int(rng.integers(0, photo.height - side))
        crop = photo.crop((x, y, x + side, y + side)).resize((256, 256))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        crop.save(folder / f"{i:03}.png")


def session(path: Path, optimize: bool = True) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimize
        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def latency(
    models: dict[str, tuple[Path, bool]], x: Array, rounds: int, runs: int
) -> dict[str, Any]:
    """Median of round medians (ms) per model, rounds interleaved."""
    sessions = {name: session(path, opt) for name, (path, opt) in models.items()}
    name_in = {n: s.get_inputs()[0].name for n, s in sessions.items()}
    for n, s in sessions.items():
        for _ in range(3):
            s.run(None, {name_in[n]: x})
    medians: dict[str, list[float]] = {n: [] for n in sessions}
    for _ in range(rounds):
        for n, s in sessions.items():
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                s.run(None, {name_in[n]: x})
                times.append((time.perf_counter() - start) * 1000)
            medians[n].append(statistics.median(times))
    return {
        n: {"median_ms": statistics.median(m), "min_ms": min(m), "max_ms": max(m), "rounds": m}
        for n, m in medians.items()
    }


def logits(path: Path, x: Array) -> Array:
    s = session(path)
    out: Array = np.concatenate(
        [s.run(None, {s.get_inputs()[0].name: x[i : i + 8]})[0] for i in range(0, len(x), 8)]
    )
    return out


def agreement(ref: Array, out: Array) -> dict[str, float]:
    top1 = ref.argmax(1) == out.argmax(1)
    in_top5 = [ref[i].argmax() in np.argsort(out[i])[-5:] for i in range(len(ref))]
    cos = np.sum(ref * out, 1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1))
    return {
        "top1_agreement": float(top1.mean()),
        "float_top1_in_int8_top5": float(np.mean(in_top5)),
        "mean_cosine": float(cos.mean()),
    }


def quantize(src: Path, out: Path, samples: list[Array], **settings: Any) -> dict[str, Any]:
    from dslc_runtime.quantize import Settings, quantize

    data, report = quantize(str(src), samples, Settings(**settings))
    out.write_bytes(data)
    return {"seconds": report.seconds, "q": report.counts.get("QuantizeLinear", 0)}


def quantize_dynamic(src: Path, out: Path) -> dict[str, Any]:
    """What many users try first: dynamic quantization (ConvInteger, activations quantized
    at run time, per tensor)."""
    import logging

    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as dyn

    logging.disable(logging.WARNING)
    start = time.perf_counter()
    dyn(str(src), str(out), weight_type=QuantType.QUInt8)
    return {"seconds": time.perf_counter() - start}


def resnet50(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from dslc_runtime.calibrate import Source, load_samples
    from dslc_runtime.specs import TensorSpec

    fp32 = tmp / "resnet50.onnx"
    dslc("compile", "models/resnet50.xnet", "-o", fp32)
    write_crops(tmp / "calib", args.samples, seed=1)
    write_crops(tmp / "eval", args.images, seed=2)
    spec = TensorSpec("image", ("N", 3, 224, 224), np.dtype("float32"))
    calib = load_samples(Source("folder", str(tmp / "calib")), spec, args.samples)[0]
    evals = np.concatenate(load_samples(Source("folder", str(tmp / "eval")), spec, args.images)[0])
    variants: dict[str, dict[str, Any]] = {
        "ours": {},
        "conv_gemm_only": {"op_types": ("Conv", "Gemm")},
        "s8s8": {"activation": "int8"},
        "reduce_range": {"reduce_range": True},
        "per_tensor": {"per_channel": False},
        "entropy": {"method": "entropy"},
    }
    made: dict[str, Any] = {}
    for name, settings in variants.items():
        made[name] = quantize(fp32, tmp / f"{name}.onnx", calib, **settings)
        print(f"quantized {name} in {made[name]['seconds']:.1f} s", file=sys.stderr)
    made["dynamic"] = quantize_dynamic(fp32, tmp / "dynamic.onnx")
    ref = logits(fp32, evals)
    acc = {name: agreement(ref, logits(tmp / f"{name}.onnx", evals)) for name in made}
    models = {"float32": (fp32, True), **{n: (tmp / f"{n}.onnx", True) for n in made}}
    models["ours_no_graph_optimization"] = (tmp / "ours.onnx", False)
    models["float32_no_graph_optimization"] = (fp32, False)
    x = evals[:1]
    timing = latency(models, x, args.rounds, args.runs)
    return {
        "quantize": made,
        "agreement": acc,
        "latency": timing,
        "float_top1_classes": len(set(ref.argmax(1))),
        "float_top1_margin_median": float(np.median(np.diff(np.sort(ref, 1)[:, -2:], axis=1))),
        "float_logit_std_across_images": float(ref.std(0).mean()),
        "images": args.images,
        "samples": args.samples,
        "sizes_mib": {n: p.stat().st_size / 2**20 for n, (p, _) in models.items()},
    }


def convnext(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Q/DQ pairs only where ONNX Runtime's CPU provider has an int8 kernel (ours) against
    around every op (LayerNormalization and Gelu included), on ConvNeXt-tiny."""
    from dslc_runtime.calibrate import Source, load_samples
    from dslc_runtime.specs import TensorSpec
    from onnx import load

    fp32 = tmp / "convnext.onnx"
    dslc("compile", "models/convnext_tiny.xnet", "-o", fp32)
    if not (tmp / "calib").exists():
        write_crops(tmp / "calib", args.samples, seed=1)
        write_crops(tmp / "eval", args.images, seed=2)
    spec = TensorSpec("image", ("N", 3, 224, 224), np.dtype("float32"))
    calib = load_samples(Source("folder", str(tmp / "calib")), spec, args.samples)[0]
    made = {"ours": quantize(fp32, tmp / "convnext_ours.onnx", calib)}
    every = tuple(sorted({n.op_type for n in load(str(fp32)).graph.node}))
    made["all_ops"] = quantize(fp32, tmp / "convnext_all_ops.onnx", calib, op_types=every)
    models = {"float32": (fp32, True), **{n: (tmp / f"convnext_{n}.onnx", True) for n in made}}
    evals = np.concatenate(load_samples(Source("folder", str(tmp / "eval")), spec, args.images)[0])
    ref = logits(fp32, evals)
    return {
        "quantize": made,
        "latency": latency(models, evals[:1], args.rounds, args.runs),
        "agreement": {n: agreement(ref, logits(p, evals)) for n, (p, _) in models.items()},
        "left_after_fusion": {n: leftover(p) for n, (p, _) in models.items()},
        "all_ops": list(every),
    }


def leftover(path: Path) -> dict[str, int]:
    """QuantizeLinear/DequantizeLinear nodes left once ONNX Runtime has fused the QDQ groups
    into int8 ops (ORT_ENABLE_EXTENDED, whose graph can be saved)."""
    import onnxruntime as ort
    from onnx import load

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(path.with_suffix(".fused.onnx"))
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in load(so.optimized_model_filepath).graph.node]
    return {op: ops.count(op) for op in ("QuantizeLinear", "DequantizeLinear")}


def train_lenet(folder: Path, x: Array, y: Array, epochs: int) -> Path:
    """LeNet-5 (models/lenet5.xnet's layers and names) trained on (x, y) with PyTorch."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential()
    for name, layer in [
        ("conv1", nn.Conv2d(1, 6, 5)), ("tanh1", nn.Tanh()), ("pool1", nn.AvgPool2d(2)),
        ("conv2", nn.Conv2d(6, 16, 5)), ("tanh2", nn.Tanh()), ("pool2", nn.AvgPool2d(2)),
        ("flatten", nn.Flatten()), ("dense1", nn.Linear(400, 120)), ("tanh3", nn.Tanh()),
        ("dense2", nn.Linear(120, 84)), ("tanh4", nn.Tanh()), ("dense3", nn.Linear(84, 10)),
    ]:  # fmt: skip
        net.add_module(name, layer)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        order = torch.randperm(len(tx))
        for i in range(0, len(tx), 32):
            batch = order[i : i + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(net(tx[batch]), ty[batch]).backward()
            opt.step()
    weights = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    np.savez(folder / "lenet5_trained.npz", **weights)
    out = folder / "lenet5.onnx"
    dslc("compile", "models/lenet5.xnet", "--weights", folder / "lenet5_trained.npz", "-o", out)
    return out


def lenet(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """LeNet-5 on the digits, float32 against INT8, on the validation split `dslc train`
    holds out (--val-fraction 0.2, --seed 0: the first 359 of a seeded permutation)."""
    from dslc_runtime.calibrate import digits

    x, y = digits(1, 32, 32)
    order = np.random.default_rng(0).permutation(len(x))
    n_val = round(len(x) * 0.2)
    val, train = order[:n_val], order[n_val:]
    if args.lenet_weights:
        fp32 = tmp / "lenet5.onnx"
        dslc("compile", "models/lenet5.xnet", "--weights", args.lenet_weights, "-o", fp32)
        trained = f"dslc train ({args.lenet_weights.name})"
    else:
        fp32 = train_lenet(tmp, x[train], y[train], args.epochs)
        trained = f"PyTorch in this script, {args.epochs} epochs"
    np.savez(tmp / "train.npz", x=x[train])
    out: dict[str, Any] = {"trained": trained, "train": len(train), "validation": len(val)}
    ref = logits(fp32, x[val]).argmax(1)
    out["float32_accuracy"] = float((ref == y[val]).mean())
    runs = [(m, f"npz:{tmp / 'train.npz'}") for m in ("minmax", "entropy", "percentile")]
    for method, source in [*runs, ("minmax", "digits")]:
        q = tmp / f"lenet5_{method}.onnx"
        dslc("quantize", fp32, "--calibrate", source, "--method", method, "-o", q)
        pred = logits(q, x[val]).argmax(1)
        key = f"int8_{method}" + ("_digits" if source == "digits" else "")
        out[f"{key}_accuracy"] = float((pred == y[val]).mean())
        out[f"{key}_agreement"] = float((pred == ref).mean())
    return out


def machine() -> dict[str, Any]:
    import onnxruntime as ort

    cpu = platform.processor()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
        flags = next(ln for ln in lines if ln.startswith("flags")).split()
        vnni = "avx512_vnni" in flags or "avx_vnni" in flags
    except (OSError, StopIteration):
        vnni = False
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "vnni": vnni,
        "onnxruntime": ort.__version__,
        "note": "shared with other jobs",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--samples", type=int, default=32, help="calibration images")
    parser.add_argument("--images", type=int, default=64, help="images to compare on")
    parser.add_argument("--epochs", type=int, default=30, help="LeNet-5 training epochs")
    parser.add_argument(
        "--lenet-weights",
        type=Path,
        help="LeNet-5 weights from `dslc train models/lenet5.xnet --data digits` (default "
        "split and seed) instead of training here with PyTorch",
    )
    parser.add_argument("--only", default="resnet50,convnext_tiny,lenet5_digits")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine()}
    parts = {"resnet50": resnet50, "convnext_tiny": convnext, "lenet5_digits": lenet}
    with tempfile.TemporaryDirectory(prefix="quantize-bench-") as tmp:
        for name in args.only.split(","):
            result[name] = parts[name](Path(tmp), args)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
