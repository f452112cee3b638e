"""Property: for random valid programs, the analysed receptive field == the field measured on
ONNX Runtime (dslc.backend.rf_measure), for every unit away from the borders.

Compared: the largest field size over interior units, and each interior unit's centre,
start + i * jump. Programs that upsample (or run a strided transposed conv) on the way are left
out: there units' fields vary with their phase and Araujo et al.'s size is an average (the
documented exception; `dslc rf --measure` shows both sizes there without comparing).
"""

from __future__ import annotations

from hypothesis import assume, given
from strategies import Program, programs

from dslc.backend.rf_measure import MeasureError, default_size, fits, measure, resampled
from dslc.compiler import compile_source
from dslc.report.summary import top_node
from dslc.source import SourceFile


@given(programs(max_elements=6))
def test_analysed_field_equals_measured_field(program: Program) -> None:
    analysis = compile_source(SourceFile("prop.xnet", program.text))
    node = top_node(analysis)
    assume(node is not None)
    assert node is not None
    assume(not resampled(analysis, node.id))
    size = default_size(analysis, node.id)
    try:
        got = measure(analysis, node.id, fits(analysis, node.id, size) if size else None)
    except MeasureError:
        assume(False)
        raise
    assume(got.h.interior.any() and got.w.interior.any())
    assert got.disagreements() == [], program.text
