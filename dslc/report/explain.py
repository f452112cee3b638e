"""`dslc explain CODE`: a code's entry in the registry, with what the compiler really says
about its example (compiled in a scratch folder), so the explanations cannot drift away from
the compiler."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from dslc.codes import BY_CODE, ENTRIES, CodeEntry
from dslc.codes.entry import Weights
from dslc.compiler import compile_file, parse_overrides
from dslc.diagnostics import CompileError, Diagnostic, did_you_mean
from dslc.passes import Analysis

__all__ = ["WeightsCheck", "explain_text", "find", "listing", "render", "run_example", "run_fix"]

# Checks a weights file against a compiled network, raising CompileError as
# `dslc compile --weights` does, and returns its warnings. Passed in, because report does not
# import the backend.
WeightsCheck = Callable[[Analysis, Path], tuple[Diagnostic, ...]]


def listing() -> str:
    """One line per code: code and title."""
    lines = [f"{e.code}  {e.title}" for e in ENTRIES]
    return "\n".join(lines) + "\n\nRun 'dslc explain CODE' for an explanation with an example.\n"


def find(code: str) -> CodeEntry:
    """The entry for a code written as E0301, e0301 or 0301 (W0701, w0701 for a warning).

    Raises LookupError, with a 'did you mean' hint, for a code nobody registered.
    """
    key = code.strip().upper()
    if not key.startswith(("E", "W")):
        key = f"W{key}" if f"E{key}" not in BY_CODE and f"W{key}" in BY_CODE else f"E{key}"
    if key not in BY_CODE:
        hint = did_you_mean(key, BY_CODE) or "run 'dslc explain' for the list"
        raise LookupError(f"no diagnostic has the code '{code}'; {hint}")
    return BY_CODE[key]


def explain_text(code: str, check_weights: WeightsCheck) -> str:
    """The full explanation of a code, with the compiler's output for its example."""
    e = find(code)
    return render(e, run_example(e, check_weights)[0])


def render(e: CodeEntry, diagnostics: str) -> str:
    """The full explanation; `diagnostics` is what the compiler says about the example."""
    out = [f"{e.code}: {e.title}", "", *_wrap(e.explanation), "", f"Example ({_name(e)}):", ""]
    out += [f"    {line}" for line in e.example.splitlines()]
    for name, text in e.files:
        out += ["", f"with {name}:", ""] + [f"    {line}" for line in text.splitlines()]
    sets = "".join(f" --set {s}" for s in e.sets)
    if e.weights:
        out += ["", "with w.npz holding:", ""] + _tensors(e.weights)
        out += ["", f"$ dslc compile example.xnet --weights w.npz{sets}", diagnostics.rstrip("\n")]
        out += ["", "Fixed: w.npz holding", ""] + _tensors(e.fixed_weights)
        return "\n".join(out) + "\n"
    out += ["", f"$ dslc check {_name(e)}{sets}", diagnostics.rstrip("\n")]
    if e.fix is not None:
        out += ["", "Fixed:", ""] + [f"    {line}" for line in e.fix.splitlines()]
    return "\n".join(out) + "\n"


def _name(e: CodeEntry) -> str:
    return "example.onnxtxt" if e.onnx else "example.xnet"


def _tensors(ws: Weights) -> list[str]:
    return [f"    {name}  ({', '.join(map(str, shape))})  {dtype}" for name, shape, dtype in ws]


def _wrap(text: str, width: int = 88) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def run_example(
    e: CodeEntry, check_weights: WeightsCheck | None = None
) -> tuple[str, tuple[str, ...]]:
    """Compile the example in a scratch folder (`check_weights` is needed where the example
    has a weights file). Returns what `dslc check` prints on stderr, and the codes shown."""
    return _compile(e, e.example, e.weights, check_weights)


def run_fix(e: CodeEntry, check_weights: WeightsCheck | None = None) -> tuple[str, tuple[str, ...]]:
    """Compile the fixed example; no diagnostics means the fix works."""
    assert e.fix is not None
    return _compile(e, e.fix, e.fixed_weights, check_weights)


def _compile(
    e: CodeEntry, text: str, weights: Weights, check_weights: WeightsCheck | None
) -> tuple[str, tuple[str, ...]]:
    with tempfile.TemporaryDirectory(prefix="dslc-explain-") as tmp:
        for name, body in (*e.files, (_name(e), text)):
            (Path(tmp) / name).write_text(body, encoding="utf-8")
        try:
            analysis = compile_file(Path(tmp) / _name(e), parse_overrides(list(e.sets)))
            diags = analysis.warnings
            if weights:
                assert check_weights is not None, f"{e.code}'s example needs a weights check"
                _save_npz(Path(tmp) / "w.npz", weights)
                diags = (*diags, *check_weights(analysis, Path(tmp) / "w.npz"))
        except CompileError as exc:
            diags = exc.diagnostics
        shown = "\n\n".join(d.render() for d in diags)
        shown = shown.replace(f"({tmp}/)", "(./)").replace(f"{tmp}/", "")
    return shown, tuple(d.code for d in diags)


def _save_npz(path: Path, ws: Weights) -> None:
    """Write zero tensors of the given names, shapes and dtypes (object: needs pickle; a dtype
    followed by a note, as 'float32 (all NaN)', is filled with NaN)."""
    import numpy as np  # only the weights examples need it

    arrays = {}
    for name, shape, dtype in ws:
        if dtype == "object":
            arrays[name] = np.array([None] * int(np.prod(shape)), dtype=object)
        else:
            kind, _, note = dtype.partition(" ")
            arrays[name] = np.full(shape, np.nan if note else 0, kind)
    np.savez(path, **arrays)  # type: ignore[arg-type]
