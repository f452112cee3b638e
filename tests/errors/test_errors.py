"""Golden diagnostics: each NAME.xnet here renders exactly NAME.err (refresh: --update-golden),
its errors, or where it compiles, its warnings. A case named after a code (E0301_..., W0701_...)
produces that code first; every code in the registry (dslc.codes) has such a case.

A first line `# args: --set NAME=VALUE --limit NAME=VALUE --weights W.npz` gives the
command-line options the case is compiled with. Imported files live in lib/ (not cases
themselves); weights files in weights/ (made by make_weights.py).
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest

from dslc.backend.weights import match, nonfinite, read, wanted
from dslc.codes import BY_CODE
from dslc.compiler import compile_file, parse_overrides
from dslc.diagnostics import CompileError, Diagnostic, DiagnosticError, Sink
from dslc.expand.limits import parse_limits

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
# .onnxtxt cases (ONNX text syntax) hold the ONNX importer's codes (E08xx)
CASES = sorted([p.stem for p in HERE.glob("*.xnet")] + [p.name for p in HERE.glob("*.onnxtxt")])
CODE = re.compile(r"[EW]\d{4}")


def _options(path: Path) -> tuple[list[str], list[str], list[str]]:
    """The --set, --limit and --weights values named on the case's `# args:` line."""
    first = path.read_bytes().decode("utf-8", errors="replace").partition("\n")[0]
    words = shlex.split(first.removeprefix("# args:")) if first.startswith("# args:") else []
    sets = [v for k, v in itertools.pairwise(words) if k == "--set"]
    limits = [v for k, v in itertools.pairwise(words) if k == "--limit"]
    weights = [v for k, v in itertools.pairwise(words) if k == "--weights"]
    return sets, limits, weights


def _diagnostics(case: str) -> tuple[Diagnostic, ...]:
    """What compiling the case reports: its errors, or where it compiles, its warnings."""
    file = case if case.endswith(".onnxtxt") else f"{case}.xnet"
    sets, limits, weights = _options(HERE / file)
    found: tuple[Diagnostic, ...] = ()
    try:
        analysis = compile_file(file, parse_overrides(sets), parse_limits(limits))
        for w in weights:  # as `dslc compile --weights W` checks them, before writing
            found += nonfinite(match(analysis, read(f"weights/{w}", wanted(analysis)), w), w)
    except CompileError as exc:
        return exc.diagnostics
    return (*analysis.warnings, *found)


@pytest.mark.parametrize("case", CASES)
def test_rendered_diagnostics(
    case: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(HERE)
    diagnostics = _diagnostics(case)
    assert diagnostics, f"{case} compiles without a diagnostic"
    text = "\n\n".join(d.render() for d in diagnostics) + "\n"
    golden = HERE / f"{case}.err"
    if update_golden or not golden.exists():
        golden.write_text(text)
    assert text == golden.read_text()
    code = CODE.match(case)
    if code:  # files named after a code must produce that code first
        assert diagnostics[0].code == code.group(0)
    for d in diagnostics:  # only --set and weights problems lie outside the file
        outside = d.code in ("E0502", "E0801") or d.code[1:3] == "07"
        assert outside or (d.span is not None and d.span.line >= 1)


def codes_in_compiler() -> set[str]:
    """Every diagnostic code written in the compiler's source, outside the registry."""
    found: set[str] = set()
    for path in (ROOT / "dslc").rglob("*.py"):
        if "codes" in path.relative_to(ROOT / "dslc").parts or path.name == "explain.py":
            continue
        found |= set(re.findall(r"\"([EW]\d{4})\"", path.read_text(encoding="utf-8")))
    return found


def test_every_registered_code_has_a_golden_case() -> None:
    covered = {c[:5] for c in CASES if CODE.match(c)}
    assert set(BY_CODE) - covered == set()


def test_every_golden_case_is_named_after_a_registered_code() -> None:
    named = {c[:5] for c in CASES if CODE.match(c)}
    assert named - set(BY_CODE) == set()
    assert [c for c in CASES if CODE.match(c) and c[5:6] != "_"] == []


def test_every_code_in_the_compiler_is_registered_and_explained() -> None:
    assert codes_in_compiler() - set(BY_CODE) == set()
    for e in BY_CODE.values():
        assert e.title and e.explanation and e.example, e.code


def test_an_unregistered_code_is_refused() -> None:
    with pytest.raises(AssertionError, match="E0999"):
        Sink().error("E0999", "no such code", None)
    with pytest.raises(AssertionError, match="E0999"):
        Diagnostic("E0999", "no such code", None)
    with pytest.raises(AssertionError, match="E0999"):
        DiagnosticError("E0999", "no such code")


def test_the_severity_comes_from_the_registry() -> None:
    sink = Sink()
    sink.warning("W0701", "a warning", None)
    sink.error("E0301", "an error", None)
    assert [d.severity for d in sink.items] == ["warning", "error"]
    assert [d.severity for d in sink.errors] == ["error"]
    with pytest.raises(AssertionError, match="W0701 is registered as a warning"):
        sink.error("W0701", "not an error", None)
    with pytest.raises(AssertionError, match="E0301 is registered as an error"):
        sink.warning("E0301", "not a warning", None)
