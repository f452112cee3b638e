"""`dslc train models/lenet5.xnet --data digits`: wall time and validation accuracy, then the
saved weights compiled (`dslc compile --weights`) and run on ONNX Runtime (`dslc run`) on the
whole validation set, compared with PyTorch's predictions image by image.

    PYTHONPATH=.:runtime python3 bench/train_digits.py [--threads N] [-- extra dslc train options]

Results in bench/README.md ("Training LeNet-5 on digits").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LENET = str(ROOT / "models" / "lenet5.xnet")
RECIPE = ["--epochs", "30", "--patience", "5", "--lr", "2e-3", "--seed", "0"]


def dslc(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "runtime")])}
    cmd = [sys.executable, "-m", "dslc", *args]
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, help="dslc train --threads")
    parser.add_argument("extra", nargs="*", help="more dslc train options")
    args = parser.parse_args()
    threads = ["--threads", str(args.threads)] if args.threads else []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lenet5.safetensors"
        t0 = time.perf_counter()
        dslc("train", LENET, "--data", "digits", "-o", str(out), *RECIPE, *threads, *args.extra)
        wall = time.perf_counter() - t0
        doc = json.loads(out.with_suffix(".json").read_text())
        same, n = _compare(out, Path(tmp), doc["settings"]["seed"], doc["data"]["val_fraction"])
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # fmt: skip
    print(f"threads: {args.threads or 'PyTorch default'}; options: {' '.join(RECIPE + args.extra)}")
    print(f"epochs run: {len(doc['epochs'])}, best epoch {doc['best_epoch']}, stopped early: "
          f"{doc['stopped_early']}")  # fmt: skip
    print(f"best validation accuracy: {doc['best_val_accuracy']:.2%} "
          f"(loss {doc['best_val_loss']:.4f})")  # fmt: skip
    print(f"wall time of dslc train (start-up included): {wall:.1f} s; training loop "
          f"{doc['seconds']:.1f} s")  # fmt: skip
    print(f"ONNX Runtime and PyTorch predict the same class: {same}/{n} validation images")


def _compare(weights: Path, tmp: Path, seed: int, fraction: float) -> tuple[int, int]:
    import torch
    from safetensors.numpy import load_file

    from dslc.pytorch import build_module
    from dslc.pytorch.data import load, split

    _, val = split(load("digits", (1, 32, 32)), fraction, seed)
    np.save(tmp / "val.npy", val.x)
    dslc("compile", LENET, "--weights", str(weights), "-o", str(tmp / "m.onnx"))
    dslc("run", str(tmp / "m.onnx"), "--input", str(tmp / "val.npy"), "--provider", "cpu",
         "--output", str(tmp / "y.npy"))  # fmt: skip
    module = build_module(Path(LENET)).eval()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(weights).items()})
    with torch.no_grad():
        want = module(torch.from_numpy(val.x)).numpy().argmax(1)
    got = np.load(tmp / "y.npy").argmax(1)
    return int((got == want).sum()), len(want)


if __name__ == "__main__":
    main()
