"""PyTorch's side of the GPU comparison (issue 16, part 5): torchvision's model in eval mode,
eager float16 channels-last and `torch.compile` of it, timed like `dslc bench` (warm-up, then
timed batches; latency of one batch, CUDA-synchronised). Prints one JSON record per model,
mode and batch; bench/gpu_bench.py runs it in the same call as its ONNX Runtime rows.

    python3 bench/torch_reference.py --models resnet50 --batch 1,64,256        # on the GPU
    python3 bench/torch_reference.py --device cpu --quick --models resnet18   # a smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MODES = ("eager", "compile")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="resnet50", help="comma-separated torchvision names")
    p.add_argument("--batch", default="1,64")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--modes", default=",".join(MODES), help="eager, compile")
    p.add_argument("--seconds", type=float, default=1.5, help="timed seconds per batch size")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="batch 1 and 2, 1 warm-up, 3 runs")
    return p.parse_args(argv)


def _time(fn: Any, x: Any, sync: Any, warmup: int, seconds: float, runs: int | None) -> list[float]:
    for _ in range(warmup):
        fn(x)
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while (runs is None and time.perf_counter() - start < seconds) or (
        runs is not None and len(times) < runs
    ):
        t = time.perf_counter()
        fn(x)
        sync()
        times.append((time.perf_counter() - t) * 1000)
    return times


def measure(a: argparse.Namespace) -> list[dict[str, Any]]:
    """One record per model, mode and batch size."""
    import torch
    from torchvision_shim import import_torchvision

    tv = import_torchvision()
    dev = torch.device(a.device)
    half = a.device == "cuda"  # float16 convolutions on a CPU are not what anyone deploys
    dtype = torch.float16 if half else torch.float32
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    batches = [1, 2] if a.quick else [int(b) for b in a.batch.split(",")]
    records = []
    for name in a.models.split(","):
        net = tv.models.get_model(name, weights=None).eval().to(dev, dtype)
        net = net.to(memory_format=torch.channels_last)
        for mode in a.modes.split(","):
            fn = torch.compile(net) if mode == "compile" else net
            for b in batches:
                x = torch.randn(b, 3, 224, 224, device=dev, dtype=dtype)
                x = x.to(memory_format=torch.channels_last)
                with torch.inference_mode():
                    times = _time(
                        fn, x, sync, 1 if a.quick else a.warmup, a.seconds, 3 if a.quick else None
                    )
                p50 = statistics.median(times)
                records.append(
                    {
                        "model": name,
                        "framework": f"torch {torch.__version__}",
                        "mode": f"{mode} {str(dtype).removeprefix('torch.')} channels-last",
                        "device": torch.cuda.get_device_name() if half else "cpu",
                        "batch": b,
                        "p50_ms": round(p50, 4),
                        "images_per_s": round(b * 1000 / p50, 1),
                        "runs": len(times),
                    }
                )
    return records


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(measure(_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
