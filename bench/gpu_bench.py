"""The GPU measurements of issues 6 and 16 as one command: `dslc bench` on the CUDA provider
for resnet50, resnet18, densenet121, mobilenet_v2 and efficientnet_b0 at batch 1, 64 and 256,
float32 and float16, plain / prefer_nhwc / CUDA graph, and in the same call PyTorch eager
float16 channels-last and `torch.compile` of torchvision's models (bench/torch_reference.py,
when torch is installed). Writes every record into one JSON file and prints a markdown table
(also written beside it).

    python3 bench/gpu_bench.py --out "$OUT"              # on the GPU machine (bench/README.md)
    python3 bench/gpu_bench.py --provider cpu --quick    # here: checks the script end to end
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("resnet50", "resnet18", "densenet121", "mobilenet_v2", "efficientnet_b0")
DTYPES = ("float32", "float16")
VARIANTS = {  # name: extra `dslc bench` flags
    "plain": [],
    "nhwc": ["--prefer-nhwc"],
    "graph": ["--cuda-graph"],
    "graph+nhwc": ["--cuda-graph", "--prefer-nhwc"],
    "unoptimized": ["--no-optimize"],  # the graph as written, batch norms unfolded
}
DEFAULT_VARIANTS = ("plain", "nhwc", "graph", "graph+nhwc")
# Targets on an H200 (issue 16): resnet50 float16 batch 64 at least 1.5x PyTorch eager float16
# channels-last measured in the same run (about 15,000 images/s), batch 1 within 0.8 ms.
TARGET_B64_IMAGES_S = 15_000
TARGET_VS_TORCH = 1.5
TARGET_B1_MS = 0.8
REFERENCES = (
    "PyTorch eager float16 channels-last resnet50, batch 64: ~6.6 ms (~9,700 images/s)",
    (
        "ONNX Runtime CUDA float32, torchvision's own ONNX export of resnet50: ~9.5-11 ms at "
        "batch 64, ~2 ms at batch 1"
    ),
)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--provider",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cuda (the real run) or cpu (only the plain variant: a check that the script works)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="batch 1 and 2, one warm-up and three timed runs: a smoke test",
    )
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo models")
    p.add_argument("--dtypes", default=",".join(DTYPES))
    p.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated, from {', '.join(VARIANTS)}",
    )
    p.add_argument("--batch", default="1,64,256", help="comma-separated batch sizes")
    p.add_argument(
        "--no-torch", action="store_true", help="skip PyTorch's rows (bench/torch_reference.py)"
    )
    p.add_argument("--seconds", type=float, default=1.5, help="timed seconds per batch size")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--timeout", type=float, default=300, help="seconds per dslc bench call")
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench" / "results",
        help="folder for gpu_bench_<provider>[_quick].json and .md",
    )
    return p.parse_args(argv)


def _configs(a: argparse.Namespace) -> list[tuple[str, str, str]]:
    variants = a.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if a.provider == "cpu":
        cuda_only = {"--cuda-graph", "--prefer-nhwc"}
        variants = [v for v in variants if not cuda_only & set(VARIANTS[v])]
    return [(m, d, v) for m in a.models.split(",") for d in a.dtypes.split(",") for v in variants]


def _command(a: argparse.Namespace, model: str, dtype: str, variant: str) -> list[str]:
    batches = ["1", "2"] if a.quick else a.batch.split(",")
    timing = (
        ["--warmup", "1", "--iterations", "3"]
        if a.quick
        else ["--warmup", str(a.warmup), "--seconds", str(a.seconds)]
    )
    return [
        sys.executable,
        "-m",
        "dslc",
        "bench",
        f"models/{model}.xnet",
        "--provider",
        a.provider,
        "--batch",
        *batches,
        "--dtype",
        dtype,
        *timing,
        *VARIANTS[variant],
        "--json",
    ]


def _env() -> dict[str, str]:
    """dslc and dslc_runtime from this checkout, ahead of whatever else is on the path."""
    paths = [str(ROOT), str(ROOT / "runtime")]
    rest = os.environ.get("PYTHONPATH")
    return os.environ | {"PYTHONPATH": os.pathsep.join(paths + ([rest] if rest else []))}


def _run_one(a: argparse.Namespace, model: str, dtype: str, variant: str) -> dict[str, Any]:
    cmd = _command(a, model, dtype, variant)
    config = {
        "model": model,
        "dtype": dtype,
        "variant": variant,
        "command": " ".join(["dslc", *cmd[3:]]),
    }
    start = time.perf_counter()
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=a.timeout,
            env=_env(),
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return config | {"error": f"timed out after {a.timeout:g} s"}
    config["wall_s"] = round(time.perf_counter() - start, 2)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return config | {"error": lines[-1][:300]}
    return config | {"bench": json.loads(done.stdout)}


def torch_rows(a: argparse.Namespace) -> list[dict[str, Any]]:
    """PyTorch eager and torch.compile of torchvision's models, in a child process (so a
    failing torch.compile costs only its rows); [] without torch or with --no-torch."""
    if a.no_torch:
        return []
    cmd = [sys.executable, str(ROOT / "bench" / "torch_reference.py"), "--models", a.models]
    cmd += ["--batch", a.batch, "--device", a.provider, "--seconds", str(a.seconds)]
    cmd += ["--warmup", str(a.warmup)] + (["--quick"] if a.quick else [])
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=4 * a.timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return [{"error": "torch_reference.py timed out"}]
    if done.returncode != 0:
        return [{"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:300]}]
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def torch_table(rows: list[dict[str, Any]]) -> str:
    """PyTorch's rows as markdown."""
    lines = [
        "| model | framework | mode | batch | p50 ms | images/s |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| - | torch | failed: {r['error']} | | | |")
            continue
        lines.append(
            f"| {r['model']} | {r['framework']} | {r['mode']} | {r['batch']} | "
            f"{_ms(r['p50_ms'])} | {r['images_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def torch_ratio(records: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    """The issue's ratio: best dslc resnet50 float16 batch 64 against PyTorch eager."""
    best = _best(records, 64, "throughput")
    eager = [
        r["images_per_s"]
        for r in rows
        if r.get("model") == "resnet50" and r.get("batch") == 64 and r["mode"].startswith("eager")
    ]
    if not best or not eager:
        return []
    ratio = best[0] / eager[0]
    verdict = "met" if ratio >= TARGET_VS_TORCH else "missed"
    line = (
        f"- resnet50 float16 batch 64: {ratio:.2f}x PyTorch eager float16 channels-last "
        f"({best[0]:,.0f} vs {eager[0]:,.0f} images/s); target >= {TARGET_VS_TORCH}x: {verdict}"
    )
    return [line]


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def _cell(record: dict[str, Any], batch: int, key: str) -> str:
    for r in record.get("bench", {}).get("results", []):
        if r["batch"] == batch:
            rate = r["throughput"]
            return (
                (f"{rate:,.1f}" if rate < 100 else f"{rate:,.0f}")
                if key == "throughput"
                else _ms(r["latency_ms"][key])
            )
    return "-"


def table(records: list[dict[str, Any]], batches: list[int]) -> str:
    """The markdown table: one row per model, dtype and variant."""
    head = ["model", "dtype", "variant"]
    for b in batches:
        head += [f"b{b} p50 ms", f"b{b} p99 ms", f"b{b} images/s"]
    lines = [
        "| " + " | ".join(head + ["note"]) + " |",
        "|" + "---|" * 3 + "---:|" * (3 * len(batches)) + "---|",
    ]
    for rec in records:
        cells = [rec["model"], rec["dtype"], rec["variant"]]
        for b in batches:
            cells += [_cell(rec, b, "p50"), _cell(rec, b, "p99"), _cell(rec, b, "throughput")]
        cells.append(f"failed: {rec['error']}" if "error" in rec else _note(rec))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _note(record: dict[str, Any]) -> str:
    """Non-finite outputs (float16 overflow) are worth a word."""
    bad = [r["batch"] for r in record["bench"]["results"] if not r["outputs_finite"]]
    return f"inf/NaN outputs at batch {', '.join(map(str, bad))}" if bad else ""


def _best(records: list[dict[str, Any]], batch: int, key: str) -> tuple[float, str] | None:
    found = [
        (r2[key] if key == "throughput" else r2["latency_ms"][key], rec["variant"])
        for rec in records
        if rec["model"] == "resnet50" and rec["dtype"] == "float16"
        for r2 in rec.get("bench", {}).get("results", [])
        if r2["batch"] == batch
    ]
    if not found:
        return None
    return max(found) if key == "throughput" else min(found)


def targets(records: list[dict[str, Any]]) -> list[str]:
    """The issue's H200 targets against the best resnet50 float16 variant."""
    lines = []
    b64, b1 = _best(records, 64, "throughput"), _best(records, 1, "p50")
    if b64:
        verdict = "met" if b64[0] >= TARGET_B64_IMAGES_S else "missed"
        lines.append(
            f"- resnet50 float16 batch 64: {b64[0]:,.0f} images/s ({b64[1]}); target "
            f">= {TARGET_B64_IMAGES_S:,} on an H200: {verdict}"
        )
    if b1:
        verdict = "met" if b1[0] <= TARGET_B1_MS else "missed"
        lines.append(
            f"- resnet50 float16 batch 1: p50 {b1[0]:.3f} ms ({b1[1]}); target <= "
            f"{TARGET_B1_MS} ms on an H200: {verdict}"
        )
    return lines + [f"- reference: {r}" for r in REFERENCES]


def _header(records: list[dict[str, Any]], a: argparse.Namespace) -> list[str]:
    ok = [r["bench"] for r in records if "bench" in r]
    device = ok[0]["provider"]["device"] if ok else "unknown"
    ort_version = ok[0]["onnxruntime"] if ok else "unknown"
    timing = (
        "quick: 1 warm-up, 3 timed runs"
        if a.quick
        else f"{a.warmup} warm-up runs, then {a.seconds:g} s of timed runs per batch size"
    )
    title = (
        f"`dslc bench` on {a.provider.upper()}: {device}, onnxruntime {ort_version}, "
        f"{time.strftime('%Y-%m-%d')}; IO binding, {timing}; latency of one batch."
    )
    return [title, ""]


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    records = []
    for model, dtype, variant in _configs(a):
        print(f"{model} {dtype} {variant} ...", file=sys.stderr, flush=True)
        records.append(_run_one(a, model, dtype, variant))
        if "error" in records[-1]:
            print(f"  failed: {records[-1]['error']}", file=sys.stderr, flush=True)
    print("PyTorch eager and torch.compile ...", file=sys.stderr, flush=True)
    rows = torch_rows(a)
    batches = [1, 2] if a.quick else [int(b) for b in a.batch.split(",")]
    checks = targets(records) + torch_ratio(records, rows) if a.provider == "cuda" else []
    parts = [table(records, batches), ""] + ([torch_table(rows), ""] if rows else [])
    text = "\n".join(_header(records, a) + parts + checks)
    name = f"gpu_bench_{a.provider}{'_quick' if a.quick else ''}"
    a.out.mkdir(parents=True, exist_ok=True)
    everything = {"dslc": records, "torch": rows}
    (a.out / f"{name}.json").write_text(json.dumps(everything, indent=1) + "\n")
    (a.out / f"{name}.md").write_text(text + "\n")
    print(text)
    return 1 if all("error" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
