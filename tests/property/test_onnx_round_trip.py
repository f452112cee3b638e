"""Issue 14: what `dslc compile` writes, read back by the ONNX importer, has the source's
figures: random valid programs (the strategy of test_properties.py) through compile and
import give the same output shapes, MACs, receptive field and parameter count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from strategies import Program, programs

from dslc.backend.onnx import to_onnx
from dslc.compiler import compile_file, compile_source
from dslc.report.summary import summary_json
from dslc.source import SourceFile


def _figures(analysis: Any) -> dict[str, Any]:
    s = summary_json(analysis)
    t = s["totals"]
    return {
        "outputs": [o["shape"] for o in s["outputs"]],
        "inputs": [i["shape"] for i in s["inputs"]],
        "weights": t["params"] + t.get("constants", 0) + t["buffers"],
        "macs": t["macs"],
        "rf": s["receptive_field"],
    }


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=programs())
def test_compiled_program_reads_back_with_its_figures(program: Program, tmp_path: Path) -> None:
    analysis = compile_source(SourceFile("random.xnet", program.text))
    assume(len(analysis.graph.nodes) > len(analysis.graph.inputs))  # no layer: nothing to read
    path = tmp_path / "random.onnx"
    path.write_bytes(to_onnx(analysis).SerializeToString())
    back = compile_file(path)
    assert [d.code for d in back.warnings if d.severity == "error"] == []
    assert _figures(back) == _figures(analysis), program.text
