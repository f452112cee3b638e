"""Runs every `dslc train` command of docs/training.md in full and prints what each measured
(a markdown table), and draws docs/training/gradient_norms.png from the runs with --grad-norms.

    PYTHONPATH=.:runtime python3 bench/training_lessons.py [--threads N] [--out DIR]

The figures quoted in docs/training.md come from this script (machine and date there);
tests/train/test_training_doc.py runs the same commands for one epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "training.md"
PICTURE = ROOT / "docs" / "training" / "gradient_norms.png"


def commands() -> list[list[str]]:
    """The `dslc train` lines of the doc's ```sh blocks, as argument lists."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    lines = [ln for b in blocks for ln in b.splitlines() if ln.startswith("dslc train ")]
    return [shlex.split(ln) for ln in lines]


def run(args: list[str], out: Path, threads: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "runtime")])}
    i = args.index("-o") + 1
    weights = out / args[i]
    cmd = [sys.executable, "-m", "dslc", *args[1:i], str(weights), *args[i + 1 :]]
    subprocess.run([*cmd, "--threads", str(threads)], cwd=ROOT, env=env, check=True)
    doc: dict[str, Any] = json.loads(weights.with_suffix(".json").read_text())
    return doc


def row(name: str, d: dict[str, Any]) -> str:
    last = d["epochs"][-1]
    norms = d["epochs"][0].get("grad_norms") or {}
    ratio = ""
    if norms:
        first, final = next(iter(norms.values())), list(norms.values())[-1]
        ratio = f"{first:.1e} / {final:.1e}"
    return (
        f"| {name} | {len(d['epochs'])} | {d['best_epoch']} | {d['best_val_accuracy']:.2%} | "
        f"{d['best_val_loss']:.3f} | {last['train_accuracy']:.2%} | {last['val_loss']:.3f} | "
        f"{ratio} |"
    )


def picture(runs: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, d in runs.items():
        norms = d["epochs"][0].get("grad_norms") or {}
        dense = [v for k, v in norms.items() if k.startswith("dense")]  # batch norms left out
        if dense:
            init = next((a for a in ("xavier", "he") if f"--init {a}" in d["command"]), "pytorch")
            ax.semilogy(range(1, len(dense) + 1), dense, "o-", label=f"{name} ({init} init)")
    ax.set_xlabel("dense layer (1 = next to the input, 9 = the classifier)")
    ax.set_ylabel("mean ||gradient||, epoch 1")
    ax.set_title("deep_mlp on digits: per-layer gradient norms")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(PICTURE, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="keep the runs' files here")
    parser.add_argument("--reuse", action="store_true", help="read the runs kept in --out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        runs = {}
        for cmd in commands():
            name = Path(cmd[cmd.index("-o") + 1]).stem
            kept = out / f"{name}.json"
            runs[name] = json.loads(kept.read_text()) if args.reuse else run(cmd, out, args.threads)
            runs[name]["command"] = shlex.join(cmd)
    print("| run | epochs | best epoch | best val acc | best val loss | last train acc "
          "| last val loss | grad norm layer 1 / last (epoch 1) |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, d in runs.items():
        print(row(name, d))
    picture(runs)
    load = os.getloadavg()
    print(f"\n{os.cpu_count()} CPUs, load average {load[0]:.1f}, threads {args.threads}")


if __name__ == "__main__":
    main()
