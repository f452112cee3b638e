"""Issue 14: torchvision's counterparts of the zoo exported with torch.onnx.export (the
TorchScript exporter at opsets 17 and 18, and the dynamo exporter), imported by dslc, give
the zoo .xnet's params, MACs, output shapes and receptive field; and the import plus summary
of a ResNet-152 takes under a second.

    python3 bench/onnx_import.py [--models a,b] [--exporters ts17,ts18,dynamo] [--keep DIR]
    python3 bench/onnx_import.py --time resnet152

Needs torch and torchvision (see tests/models/test_torchvision.py). Results: bench/README.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "models"), str(ROOT / "bench")]


def figures(analysis: Any) -> dict[str, Any]:
    """What must agree: params, MACs, output shapes and the receptive field."""
    from dslc.report.summary import summary_json

    s = summary_json(analysis)
    return {
        "params": s["totals"]["params"],
        "macs": s["totals"]["macs"],
        "outputs": [o["shape"] for o in s["outputs"]],
        "rf": s["receptive_field"],
    }


def zoo_figures(name: str, size: tuple[int, int]) -> dict[str, Any]:
    """The zoo model's figures, at the export's input size where its size is symbolic."""
    from dslc.compiler import compile_file, fix_sizes

    analysis = compile_file(ROOT / "models" / f"{name}.xnet")
    symbols = {s.symbol for s in analysis.sizes}
    if symbols:
        analysis = fix_sizes(analysis, dict(zip(sorted(symbols), size)))
    return figures(analysis)


def onnx_figures(path: Path) -> tuple[dict[str, Any], list[str]]:
    from dslc.compiler import compile_file

    analysis = compile_file(path)
    return figures(analysis), [d.render().splitlines()[0] for d in analysis.warnings]


def main() -> None:
    from onnx_export import EXPORTERS, export
    from test_torchvision import MODELS

    p = argparse.ArgumentParser()
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--exporters", default=",".join(EXPORTERS))
    p.add_argument("--keep", type=Path, default=None, help="folder for the .onnx files")
    p.add_argument("--time", default=None, help="time `dslc summary` of this model's export")
    args = p.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dslc-onnx-"))
    folder.mkdir(parents=True, exist_ok=True)
    if args.time:
        return _time(args.time, folder)
    import torch

    failures = 0
    print("| model | exporter | export s | params | MACs | outputs | RF | result |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: | --- |")
    for name in args.models.split(","):
        make, size = MODELS[name]
        want = zoo_figures(name, size)
        for exporter in args.exporters.split(","):
            path = folder / f"{name}.{exporter}.onnx"
            t = time.perf_counter()
            if not path.exists():
                torch.manual_seed(0)
                export(make().eval(), size, exporter, path)
            took = time.perf_counter() - t
            got, notes = onnx_figures(path)
            same = got == want
            failures += not same
            rf = got["rf"]["size"][0] if got["rf"] else "-"
            diff = "" if same else f" (zoo: {want}; {'; '.join(notes)[:300]})"
            print(
                f"| {name} | {exporter} | {took:.1f} | {got['params']:,} | {got['macs']:,} | "
                f"{got['outputs']} | {rf} | {'same' if same else 'DIFFERENT'}{diff} |",
                flush=True,
            )
    sys.exit(1 if failures else 0)


def _time(name: str, folder: Path) -> None:
    """Median wall time of `dslc summary MODEL.onnx` in fresh processes."""
    from onnx_export import export
    from test_torchvision import MODELS

    path = folder / f"{name}.ts17.onnx"
    if not path.exists():
        make, size = MODELS[name]
        export(make().eval(), size, "ts17", path)
    times = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "dslc", "summary", str(path)], check=True, capture_output=True
        )
        times.append(time.perf_counter() - t)
    times.sort()
    print(
        f"{path.name}: {path.stat().st_size / 2**20:.0f} MiB; dslc summary median "
        f"{times[len(times) // 2]:.3f} s (min {times[0]:.3f}, max {times[-1]:.3f})"
    )


if __name__ == "__main__":
    main()
