"""`dslc explain`: every code the compiler can emit is explained, with an example that really
produces it and a fix that really compiles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dslc.cli import main
from dslc.codes import BY_CODE, EXPLANATIONS, run_example, run_fix

ROOT = Path(__file__).resolve().parents[2]


def _codes_in_compiler() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "dslc").rglob("*.py"):
        if path.name != "explain.py":
            found |= set(re.findall(r"\"(E\d{4})\"", path.read_text(encoding="utf-8")))
    return found - {"E0000"}  # E0000 marks a consequence of an error already reported


def test_every_code_the_compiler_emits_is_explained() -> None:
    assert _codes_in_compiler() - set(BY_CODE) == set()
    assert set(BY_CODE) - _codes_in_compiler() == set()  # and nothing stale is


def test_codes_are_listed_once_in_order() -> None:
    codes = [e.code for e in EXPLANATIONS]
    assert codes == sorted(set(codes))


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_example_produces_its_code_and_the_fix_compiles(code: str) -> None:
    e = BY_CODE[code]
    shown, codes = run_example(e)
    assert codes and codes[0] == code, shown
    assert f"error[{code}]" in shown
    if e.fix is not None:
        shown, codes = run_fix(e)
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


def test_explain_without_a_code_lists_every_code() -> None:
    result = CliRunner().invoke(main, ["explain"])
    assert result.exit_code == 0
    listed = re.findall(r"^(E\d{4})  \S", result.stdout, re.MULTILINE)
    assert listed == sorted(BY_CODE)
    assert "dslc explain CODE" in result.stdout


def test_explain_of_an_unknown_code_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["explain", "E0310"])
    assert result.exit_code == 2
    assert "no diagnostic has the code 'E0310'; did you mean" in result.stderr
