"""Golden diagnostics: each NAME.xnet here renders exactly NAME.err (refresh: --update-golden).

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

from dslc.backend.weights import match, read
from dslc.compiler import compile_file, parse_overrides
from dslc.diagnostics import CompileError
from dslc.expand.limits import parse_limits

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CASES = sorted(p.stem for p in HERE.glob("*.xnet"))


def _options(path: Path) -> tuple[list[str], list[str], list[str]]:
    """The --set, --limit and --weights values named on the case's `# args:` line."""
    first = path.read_text(encoding="utf-8").partition("\n")[0]
    words = shlex.split(first.removeprefix("# args:")) if first.startswith("# args:") else []
    sets = [v for k, v in itertools.pairwise(words) if k == "--set"]
    limits = [v for k, v in itertools.pairwise(words) if k == "--limit"]
    weights = [v for k, v in itertools.pairwise(words) if k == "--weights"]
    return sets, limits, weights


@pytest.mark.parametrize("case", CASES)
def test_rendered_diagnostics(
    case: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(HERE)
    sets, limits, weights = _options(HERE / f"{case}.xnet")
    with pytest.raises(CompileError) as info:
        analysis = compile_file(f"{case}.xnet", parse_overrides(sets), parse_limits(limits))
        for w in weights:  # as `dslc compile --weights W` checks them, before writing
            match(analysis, read(f"weights/{w}"), w)
    text = str(info.value) + "\n"
    golden = HERE / f"{case}.err"
    if update_golden or not golden.exists():
        golden.write_text(text)
    assert text == golden.read_text()
    code = re.match(r"E\d{4}", case)
    if code:  # files named after a code must produce that code first
        assert info.value.diagnostics[0].code == code.group(0)
    for d in info.value.diagnostics:  # only --set and weights problems lie outside the file
        assert (
            d.code == "E0502"
            or d.code.startswith("E07")
            or (d.span is not None and d.span.line >= 1)
        )


def codes_in_compiler() -> set[str]:
    """Every diagnostic code written in the compiler's source (E0000 marks a consequence)."""
    found: set[str] = set()
    for path in (ROOT / "dslc").rglob("*.py"):
        if path.name == "explain.py":
            continue
        found |= set(re.findall(r"\"(E\d{4})\"", path.read_text(encoding="utf-8")))
    return found - {"E0000"}


def test_every_code_has_a_golden_case() -> None:
    covered = {c[:5] for c in CASES if re.match(r"E\d{4}_", c)}
    assert codes_in_compiler() - covered == set()
