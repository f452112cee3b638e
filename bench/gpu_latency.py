"""Plain `session.run` latencies on the CUDA provider (inputs and outputs through host memory,
no IO binding, no CUDA graphs): resnet18 and resnet50 at batch 1 and 64, median of 30 runs
after 5 warm-up runs, in milliseconds. Writes gpu_latency.json to --out (bench/README.md).

    python3 bench/gpu_latency.py --out "$OUT"      # on a GPU machine with onnxruntime-gpu
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "gpu"))

from zoo_bytes import model_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu_latency.json")
    parser.add_argument("--provider", default="cuda", help="cuda (the default) or cpu")
    args = parser.parse_args()
    from dslc_runtime import Model

    figures = {}
    for name in ("resnet18", "resnet50"):
        model = Model(model_bytes(name), provider=args.provider)
        for batch in (1, 64):
            feeds = model.random_inputs(batch=batch)
            for _ in range(5):
                model.run(feeds)
            times = []
            for _ in range(30):
                t = time.perf_counter()
                model.run(feeds)
                times.append((time.perf_counter() - t) * 1e3)
            figures[f"{name} batch {batch}"] = round(float(np.median(times)), 3)
    text = json.dumps(figures, indent=1)
    if args.out is not None:
        (args.out / "gpu_latency.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
