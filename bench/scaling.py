"""Analysis time against network size on generated networks: it must grow linearly.

    PYTHONPATH=$PWD:$PWD/runtime python3 bench/scaling.py [--json bench/results/scaling.json]

Generates .xnet text on the fly (no file is written) for four families and times, in this
process, parse, expand (AST -> IR), analyse (shapes, costs, limits, receptive fields,
alignment warnings: what `dslc check` runs) and report (what `dslc summary` adds: memory,
the tree rows, the table and the JSON document). Linear growth shows as a flat time per layer.
  resnet:   a ResNet of n bottleneck blocks (11 layers each) in one stage
  densenet: one dense block of n layers, each a dense<> concatenation (n concats in a chain)
  fanin:    one concat of n branches (n tensors alive at once; one n-way field union)
  unet:     n taps kept alive along a chain and merged at the end (long skip connections)
  symbolic: the resnet family on a 3 x H x W input (every size a polynomial in H and W)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    "resnet": (50, 100, 200, 500, 1000, 2000),
    "densenet": (250, 500, 1000, 2000, 4000),
    "fanin": (250, 500, 1000, 2000, 4000),
    "unet": (100, 200, 400, 800, 1600),
    "symbolic": (50, 100, 200, 500, 1000),
}


def resnet(n: int) -> str:
    """A ResNet of n bottleneck blocks, built from the zoo's library."""
    return (
        'network gen_resnet\ninput image: 3 x 224 x 224\nimport "lib/resnet.xnet"\n'
        f"stem -> layer1: bottleneck_stage(64, {n}) -> head(1000)\n"
    )


def densenet(n: int) -> str:
    """One dense block of n layers: a chain of n concatenations."""
    return (
        "network gen_densenet\ninput image: 3 x 32 x 32\nconv3x3(8)\n"
        f"-> dense<bn -> relu -> conv3x3(2, bias=false)> * {n} -> gap -> flatten "
        "-> dense(10)\n"
    )


def fanin(n: int) -> str:
    """One concat of n branches."""
    branches = " | ".join(f"conv{1 + 2 * (i % 2)}x{1 + 2 * (i % 2)}(1)" for i in range(n))
    return f"network gen_fanin\ninput image: 3 x 32 x 32\nconcat<{branches}> -> relu\n"


def unet(n: int) -> str:
    """n taps alive together along a chain, merged by one add at the end."""
    chain = " -> ".join(f"conv3x3(4) @t{i}" for i in range(n))
    taps = " | ".join(f"t{i}" for i in range(n - 1))
    return f"network gen_unet\ninput image: 3 x 32 x 32\n{chain}\n-> add<identity | {taps}>\n"


def symbolic(n: int) -> str:
    """The resnet family for any input size."""
    return resnet(n).replace("3 x 224 x 224", "3 x H x W")


FAMILIES: dict[str, Callable[[int], str]] = {
    "resnet": resnet,
    "densenet": densenet,
    "fanin": fanin,
    "unet": unet,
    "symbolic": symbolic,
}


def measure(text: str) -> dict[str, float]:
    """Seconds per phase for one generated network (and its layer count)."""
    from phases import analyse, stopwatch  # bench/phases.py: the phases as compile runs them

    from dslc.source import SourceFile

    t, lap = stopwatch()

    graph = analyse(SourceFile(str(ROOT / "models" / "generated.xnet"), text), lap).graph
    t["layers"] = len(graph.nodes) - len(graph.inputs)
    return t


def main() -> None:
    """Time every family at every size; print a table (and optionally save JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument(
        "--max-layers", type=int, default=30_000, help="skip sizes past this many layers"
    )
    opts = parser.parse_args()
    measure(resnet(3))  # warm the parser cache and the imports
    results: dict[str, list[dict[str, float]]] = {}
    print(
        f"{'family':9s} {'n':>6s} {'layers':>7s} {'parse':>7s} {'expand':>7s} "
        f"{'analyse':>8s} {'report':>7s} {'total':>7s}  us/layer (expand, analyse, report)"
    )
    for fam in opts.families.split(","):
        results[fam] = []
        for n in SIZES[fam]:
            t = measure(FAMILIES[fam](n))
            if t["layers"] > opts.max_layers:
                break
            t["n"] = n
            total = t["parse"] + t["expand"] + t["analyse"] + t["report"]
            per = [1e6 * t[k] / t["layers"] for k in ("expand", "analyse", "report")]
            print(
                f"{fam:9s} {n:6d} {int(t['layers']):7d} {t['parse']:7.3f} {t['expand']:7.3f} "
                f"{t['analyse']:8.3f} {t['report']:7.3f} {total:7.3f}  "
                + ", ".join(f"{p:6.1f}" for p in per),
                flush=True,
            )
            results[fam].append({k: round(v, 4) for k, v in t.items()})
    if opts.json:
        info = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "unit": "seconds",
            "families": results,
        }
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(info, indent=1) + "\n")


if __name__ == "__main__":
    main()
