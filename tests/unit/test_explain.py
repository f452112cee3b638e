"""`dslc explain`: every code the compiler can emit is explained, with an example that really
produces it and a fix that really compiles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dslc.backend.weights import match, nonfinite, read
from dslc.cli import main
from dslc.codes import BY_CODE, ENTRIES
from dslc.diagnostics import Diagnostic
from dslc.passes import Analysis
from dslc.report.explain import find, run_example, run_fix

ROOT = Path(__file__).resolve().parents[2]


def _check_weights(analysis: Analysis, path: Path) -> tuple[Diagnostic, ...]:
    return nonfinite(match(analysis, read(path), path.name), path.name)


def _codes_in_compiler() -> set[str]:
    """Every code written in the compiler's source, outside the registry and its renderer."""
    found: set[str] = set()
    for path in (ROOT / "dslc").rglob("*.py"):
        if "codes" not in path.relative_to(ROOT / "dslc").parts and path.name != "explain.py":
            found |= set(re.findall(r"\"([EW]\d{4})\"", path.read_text(encoding="utf-8")))
    return found


def test_every_code_the_compiler_emits_is_explained() -> None:
    assert _codes_in_compiler() - set(BY_CODE) == set()
    assert set(BY_CODE) - _codes_in_compiler() == set()  # and nothing stale is


def test_codes_are_listed_once_in_order() -> None:
    codes = [e.code for e in ENTRIES]
    assert codes == sorted(set(codes))


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_every_entry_is_complete_and_its_severity_is_its_letter(code: str) -> None:
    e = BY_CODE[code]
    assert re.fullmatch(r"[EW]\d{4}", e.code)
    assert e.severity == {"E": "error", "W": "warning"}[code[0]]
    assert e.title and e.explanation and e.example


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_example_produces_its_code_and_the_fix_compiles(code: str) -> None:
    e = BY_CODE[code]
    shown, codes = run_example(e, _check_weights)
    assert codes and codes[0] == code, shown
    assert f"{e.severity}[{code}]" in shown
    if e.fix is not None:
        shown, codes = run_fix(e, _check_weights)
        assert codes == (), shown


def test_explain_prints_text_example_and_the_real_diagnostic() -> None:
    result = CliRunner().invoke(main, ["explain", "E0301"])
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("E0301: residual body and shortcut disagree\n")
    assert "residual<conv3x3(64, stride=2) -> bn>" in out
    assert "example.xnet:3:1: error[E0301]: residual body yields N x 64 x 16 x 16" in out
    assert "help: state the shortcut:" in out
    assert "Fixed:" in out and "| project>" in out
    assert "/tmp" not in out and "dslc-explain-" not in out  # scratch folder not shown


@pytest.mark.parametrize("spelling", ["e0305", "0305", " E0305 "])
def test_explain_accepts_lowercase_and_bare_numbers(spelling: str) -> None:
    result = CliRunner().invoke(main, ["explain", spelling])
    assert result.exit_code == 0
    assert "help: the smallest input that works is 3 x 64 x 64" in result.stdout


@pytest.mark.parametrize("spelling", ["W0701", "w0701"])
def test_explain_explains_a_warning(spelling: str) -> None:
    result = CliRunner().invoke(main, ["explain", spelling])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("W0701: branches merged with misaligned receptive fields\n")
    assert (
        "example.xnet:3:1: warning[W0701]: the branches merged by 'concat1' are misaligned" in out
    )
    assert "Fixed:" in out


def test_a_bare_number_means_the_error_of_that_number() -> None:
    assert find("0701").code == "E0701"
    assert find(" w0701").code == "W0701"


def test_explain_without_a_code_lists_every_code() -> None:
    result = CliRunner().invoke(main, ["explain"])
    assert result.exit_code == 0
    listed = re.findall(r"^([EW]\d{4})  \S", result.stdout, re.MULTILINE)
    assert listed == sorted(BY_CODE)
    assert "W0701  branches merged with misaligned receptive fields" in result.stdout
    assert "dslc explain CODE" in result.stdout


def test_explain_of_an_unknown_code_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["explain", "E0310"])
    assert result.exit_code == 2
    assert "no diagnostic has the code 'E0310'; did you mean" in result.stderr


def test_an_unknown_code_is_a_lookup_error_with_a_hint() -> None:
    with pytest.raises(LookupError, match="no diagnostic has the code 'W0702'; did you mean"):
        find("W0702")
