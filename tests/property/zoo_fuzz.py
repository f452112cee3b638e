"""Random token mutations of the model zoo, and the outcome of compiling each one.

Used by test_fuzz.py (a few hundred cases in CI) and bench/fuzz_zoo.py (tens of thousands,
run by hand). A mutant must end like `dslc check` may end: exit 0 (it compiles) or exit 1
(located diagnostics), never an internal error (exit 3) and never a hang.
"""

from __future__ import annotations

import random
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from zoo import xnet_files

from dslc.compiler import compile_source
from dslc.diagnostics import CompileError
from dslc.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(
    r"#[^\n]*|\"[^\"\n]*\"|[A-Za-z_]\w*|\d+\.\d*(?:[eE][+-]?\d+)?|\d+|->|//|"
    r"\n|[^\s]"
)
NUMBERS = ("0", "1", "-1", "2", "7", "1000000", "99999999999999999999", "0.5", "1e400", "(0)")
MUTATIONS = ("delete", "swap", "duplicate", "number", "name", "insert")
TIMEOUT_S = 20


def zoo() -> list[Path]:
    """Every model file, found afresh (new zoo files are picked up automatically)."""
    return xnet_files(ROOT / "models")


@dataclass(frozen=True)
class Outcome:
    """How compiling a mutant ended: 0 compiled, 1 diagnostics, 3 a crash (with why)."""

    status: int
    detail: str = ""


def tokens(text: str) -> list[tuple[int, int]]:
    """(start, end) of every token, comments and newlines included."""
    return [m.span() for m in TOKEN.finditer(text)]


def mutate(text: str, rng: random.Random, edits: int) -> str:
    """Apply `edits` random token edits: deletions, swaps, duplications, number changes,
    names replaced by other names of the file, stray punctuation inserted."""
    for _ in range(edits):
        spans = tokens(text)
        if not spans:
            return text
        kind = rng.choice(MUTATIONS)
        i = rng.randrange(len(spans))
        s, e = spans[i]
        tok = text[s:e]
        if kind == "delete":
            text = text[:s] + text[e:]
        elif kind == "swap" and i + 1 < len(spans):
            s2, e2 = spans[i + 1]
            text = text[:s] + text[s2:e2] + text[e:s2] + tok + text[e2:]
        elif kind == "duplicate":
            text = text[:e] + " " + tok + text[e:]
        elif kind == "number":
            nums = [sp for sp in spans if text[sp[0]].isdigit()] or [spans[i]]
            s, e = rng.choice(nums)
            text = text[:s] + rng.choice(NUMBERS) + text[e:]
        elif kind == "name":
            names = sorted({text[a:b] for a, b in spans if text[a].isalpha()})
            if names:
                text = text[:s] + rng.choice(names) + text[e:]
        else:
            text = text[:s] + rng.choice("()<>|,=*@:[]-x") + text[s:]
    return text


class Hang(Exception):
    """Compiling took longer than the per-case timeout."""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Raise Hang in the main thread after `seconds` (SIGALRM; POSIX only)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def outcome(path: Path, text: str, timeout: int = TIMEOUT_S) -> Outcome:
    """Compile `text` as if it were the file at `path` (so its imports resolve)."""
    try:
        with deadline(timeout):
            analysis = compile_source(SourceFile(str(path), text))
    except CompileError as exc:
        unlocated = [d for d in exc.diagnostics if d.span is None or d.span.line < 1]
        if not exc.diagnostics or unlocated:
            return Outcome(3, f"diagnostic without a location: {unlocated[:1]}")
        return Outcome(1)
    except Hang as exc:
        return Outcome(3, f"hang: {exc}")
    except Exception as exc:  # noqa: BLE001 - what the CLI would report as an internal error
        return Outcome(3, f"{type(exc).__name__}: {exc}"[:300])
    if any(d.span is None for d in analysis.warnings):
        return Outcome(3, "warning without a location")
    return Outcome(0)
