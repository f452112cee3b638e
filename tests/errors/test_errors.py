"""Golden diagnostics: each NAME.xnet here renders exactly NAME.err (refresh: --update-golden)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dslc.compiler import compile_file
from dslc.diagnostics import CompileError

HERE = Path(__file__).parent
CASES = sorted(p.stem for p in HERE.glob("*.xnet"))


@pytest.mark.parametrize("case", CASES)
def test_rendered_diagnostics(case: str, update_golden: bool,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    with pytest.raises(CompileError) as info:
        compile_file(f"{case}.xnet")
    text = str(info.value) + "\n"
    golden = HERE / f"{case}.err"
    if update_golden or not golden.exists():
        golden.write_text(text)
    assert text == golden.read_text()
    code = re.match(r"E\d{4}", case)
    if code:  # files named after a code must produce that code first
        assert info.value.diagnostics[0].code == code.group(0)
    for d in info.value.diagnostics:
        assert d.span is not None and d.span.line >= 1
