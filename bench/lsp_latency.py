"""How fast `dslc lsp` answers a keystroke in models/resnet152.xnet, measured by a real client
over stdio (pytest-lsp's), as an editor would see it.

    python3 bench/lsp_latency.py [--repeat 40] [--json bench/results/lsp_latency.json]

Each keystroke is a didChange (the whole text, a digit of `classes` changed) followed by:
  hover      a hover on `layer3: bottleneck_stage(...)` (the server re-checks the new text first,
             so the answer is about what was typed);
  completion a completion inside `bottleneck_stage(` (keyword arguments);
  diagnostics  the publishDiagnostics that follows the change, with the debounce at 0 ms (the
             work itself) and at the default 25 ms (what an editor waits).
The first answers (parser built, imports read) are left out; the library import is parsed once
and served from the parser's cache afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import from_fs_path
from pytest_lsp import client_capabilities, make_test_lsp_client

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "resnet152.xnet"


async def session(debounce_ms: int, repeat: int) -> dict[str, list[float]]:
    client = make_test_lsp_client()
    await client.start_io(sys.executable, "-m", "dslc", "lsp", "--debounce-ms", str(debounce_ms))
    await client.initialize_session(
        lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
    )
    uri = from_fs_path(str(MODEL)) or ""
    text = MODEL.read_text(encoding="utf-8")
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "xnet", 1, text))
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    lines = text.split("\n")
    row = next(i for i, ln in enumerate(lines) if "layer3:" in ln)
    col = lines[row].index("bottleneck_stage") + 3
    inside = lines[row].index("bottleneck_stage(") + len("bottleneck_stage(")
    out: dict[str, list[float]] = {"hover": [], "completion": [], "diagnostics": []}
    version = 1
    for i in range(repeat + 2):
        for kind, times in out.items():
            version += 1
            changed = text.replace("classes = 1000", f"classes = {1000 + version}")
            doc = lsp.VersionedTextDocumentIdentifier(version=version, uri=uri)
            whole = lsp.TextDocumentContentChangeWholeDocument(text=changed)
            waiter = asyncio.ensure_future(
                client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            )
            start = time.perf_counter()
            client.text_document_did_change(lsp.DidChangeTextDocumentParams(doc, [whole]))
            ident = lsp.TextDocumentIdentifier(uri)
            if kind == "hover":
                got: Any = await client.text_document_hover_async(
                    lsp.HoverParams(ident, lsp.Position(row, col))
                )
                assert got is not None and "layer3" in got.contents.value
            elif kind == "completion":
                got = await client.text_document_completion_async(
                    lsp.CompletionParams(ident, lsp.Position(row, inside))
                )
                assert any(item.label == "stride=" for item in got.items)
            else:
                await waiter
            elapsed = (time.perf_counter() - start) * 1000
            if not waiter.done():
                await waiter
            if i >= 2:
                times.append(elapsed)
    await client.shutdown_session()
    return out


def in_process(repeat: int) -> dict[str, float]:
    """The server's work for one keystroke, without the protocol: check_text's wall and CPU
    time (CPU time is the steadier figure on a shared machine)."""
    from dslc.lsp.state import check_text

    text = MODEL.read_text(encoding="utf-8")
    check_text(str(MODEL), text)
    wall, cpu = [], []
    for i in range(repeat):
        changed = text.replace("classes = 1000", f"classes = {2000 + i}")
        w, c = time.perf_counter(), time.process_time()
        check_text(str(MODEL), changed)
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return {
        "wall_median": round(statistics.median(wall), 1),
        "cpu_median": round(statistics.median(cpu), 1),
    }


def summary(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "median": round(statistics.median(ms), 1),
        "p90": round(ms[int(0.9 * (len(ms) - 1))], 1),
        "max": round(ms[-1], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results: dict[str, Any] = {
        "model": "models/resnet152.xnet",
        "python": platform.python_version(),
    }
    for debounce in (0, 25):
        found = asyncio.run(session(debounce, args.repeat))
        for kind, ms in found.items():
            if debounce == 25 and kind != "diagnostics":
                continue
            key = f"{kind} (debounce {debounce} ms)" if kind == "diagnostics" else kind
            results[key] = summary(ms)
            print(
                f"{key:28} median {results[key]['median']:6.1f} ms  p90 {results[key]['p90']:6.1f}  max {results[key]['max']:6.1f}"
            )
    results["check_text in process"] = work = in_process(args.repeat)
    print(
        f"check_text in process        median {work['wall_median']:6.1f} ms  CPU {work['cpu_median']:6.1f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
