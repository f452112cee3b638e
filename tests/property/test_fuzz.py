"""Fuzzing: programs drawn from the grammar, and token mutations of every zoo file, end with
exit 0 or 1 and located diagnostics; never an internal error, never a hang (per-case timeout).

The CI profile runs a few hundred cases; HYPOTHESIS_PROFILE=thorough runs 25 times more, and
bench/fuzz_zoo.py runs any number (see bench/README.md for the recorded 10,000-case run).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from zoo_fuzz import Outcome, mutate, outcome, zoo

from dslc.expand.layers import all_names
from dslc.syntax.parser import grammar_text
from dslc.syntax.syntax_errors import TERMINAL_TEXT

ZOO = zoo()
SCALE = settings().max_examples  # 40 in the ci profile, 1000 in thorough
HEADER = "network fuzz(c = 8, n = 2)\ninput x: 3 x 16 x 16\n"


def _grammar_programs() -> st.SearchStrategy[str]:
    """Text drawn from the grammar itself, with words and numbers a user would write."""
    grammar = lark.Lark(grammar_text(), parser="lalr", lexer="basic", start="start")
    words = sorted(set(all_names())) + [
        "residual",
        "concat",
        "add",
        "dense",
        "project",
        "x",
        "c",
        "n",
        "C",
        "H",
        "W",
        "same",
        "valid",
        "b",
        "k",
    ]
    explicit = {
        "NAME": st.sampled_from(words),
        "INT": st.sampled_from(["0", "1", "2", "3", "16", "64"]),
        "FLOAT": st.sampled_from(["0.5", "1.5", "1e-3"]),
        "COMMENT": st.just("#"),
        "STRING": st.sampled_from(['"blocks.xnet"', '"fuzz.xnet"']),
        "WS": st.just(" "),
    }
    programs = from_lark(grammar, start="start", explicit=explicit)
    return st.one_of(programs, programs.map(lambda text: HEADER + text))


def test_every_terminal_has_a_user_facing_text() -> None:
    """Syntax errors say what the user would type: a terminal added to the grammar without an
    entry in TERMINAL_TEXT would show its grammar name (say `_ARROW`) in an "expected" list."""
    grammar = lark.Lark(grammar_text(), parser="lalr", lexer="basic", start="start")
    terminals = {t.name for t in grammar.terminals} - set(grammar.ignore_tokens)
    assert set(TERMINAL_TEXT) == terminals | {"$END"}


def _ok(result: Outcome, text: str) -> None:
    assert result.status in (0, 1), f"{result.detail}\n--- program ---\n{text}"


@settings(max_examples=SCALE * 3, suppress_health_check=list(HealthCheck), deadline=None)
@given(_grammar_programs())
def test_programs_from_the_grammar_compile_or_fail_with_located_diagnostics(text: str) -> None:
    _ok(outcome(Path("fuzz.xnet"), text), text)


@pytest.mark.skipif(not ZOO, reason="no zoo files")
@settings(max_examples=SCALE * 5, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.sampled_from(ZOO), st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_zoo_mutants_compile_or_fail_with_located_diagnostics(
    path: Path, seed: int, edits: int
) -> None:
    text = mutate(path.read_text(encoding="utf-8"), random.Random(seed), edits)
    _ok(outcome(path, text), text)


@pytest.mark.parametrize("path", ZOO, ids=[p.relative_to(p.parents[1]).as_posix() for p in ZOO])
def test_every_zoo_file_survives_single_edits(path: Path) -> None:
    """Every zoo file, even ones a random draw would miss: 8 single-token mutants each."""
    source = path.read_text(encoding="utf-8")
    for seed in range(8):
        text = mutate(source, random.Random(seed), 1)
        _ok(outcome(path, text), text)


def test_mutants_through_the_command_line_exit_0_or_1(tmp_path: Path) -> None:
    """The real `dslc check` in a subprocess: exit status and a located message."""
    rng = random.Random(5)
    for i, path in enumerate(rng.sample(ZOO, min(6, len(ZOO)))):
        bad = tmp_path / f"m{i}.xnet"
        bad.write_text(mutate(path.read_text(encoding="utf-8"), rng, 2), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "dslc", "check", str(bad)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
        if proc.returncode == 1:
            assert f"{bad}:" in proc.stderr and "error[E" in proc.stderr
