"""Fuzz the compiler with random token mutations of every zoo file (models/**/*.xnet).

    PYTHONPATH=$PWD:$PWD/runtime python3 bench/fuzz_zoo.py --cases 10000 --seed 1

Each mutant (1 to 4 token edits: deletions, swaps, duplications, number changes, names
swapped, stray punctuation) is compiled in-process as `dslc check` would; it must compile
(exit 0) or fail with located diagnostics (exit 1), never crash (exit 3) or hang (per-case
timeout). Crashes are written to --failures for replay. Exit status 1 if any case crashed.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "property"))

from zoo_fuzz import TIMEOUT_S, mutate, outcome, zoo


def main() -> int:
    """Run the cases and print a summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=TIMEOUT_S, help="seconds per case")
    ap.add_argument("--failures", default="fuzz_failures.json")
    args = ap.parse_args()
    files = zoo()
    sources = {p: p.read_text(encoding="utf-8") for p in files}
    counts: collections.Counter[int] = collections.Counter()
    slowest = (0.0, "")
    failures = []
    start = time.perf_counter()
    for i in range(args.cases):
        rng = random.Random(args.seed * 1_000_003 + i)
        path = files[i % len(files)]
        text = mutate(sources[path], rng, rng.randint(1, 4))
        t0 = time.perf_counter()
        result = outcome(path, text, args.timeout)
        took = time.perf_counter() - t0
        slowest = max(slowest, (took, path.name))
        counts[result.status] += 1
        if result.status == 3:
            failures.append({"file": str(path), "case": i, "detail": result.detail, "text": text})
    elapsed = time.perf_counter() - start
    print(
        f"{args.cases} mutants of {len(files)} zoo files in {elapsed:.1f} s: "
        f"{counts[0]} compiled, {counts[1]} rejected with located diagnostics, "
        f"{counts[3]} crashed or hung; slowest case {slowest[0]:.2f} s ({slowest[1]})"
    )
    if failures:
        Path(args.failures).write_text(json.dumps(failures, indent=1), encoding="utf-8")
        print(f"failures written to {args.failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
