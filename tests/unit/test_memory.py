"""Tests for activation memory: per-layer output bytes and the peak over the schedule."""

from __future__ import annotations

from dslc.compiler import compile_source
from dslc.ir import dims
from dslc.passes import Analysis
from dslc.passes.memory import activation_memory
from dslc.report.summary import summary_json
from dslc.source import SourceFile


def _compile(body: str, inp: str = "1 x 8 x 8") -> Analysis:
    return compile_source(SourceFile("t.xnet", f"input x: {inp}\n{body}\n"))


def test_a_chain_holds_two_tensors_at_a_time() -> None:
    a = _compile("conv3x3(4) -> relu -> conv3x3(2)")
    mem = activation_memory(a.graph, a.shapes)
    names = {n.name: n.id for n in a.graph.nodes}
    assert mem.outputs[names["conv1"]] == 4 * 64
    # input (64) freed after conv1; peak is conv1 (256) + relu1 (256)
    assert mem.peak == 512
    assert a.graph.node(mem.peak_node or 0).name == "relu1"


def test_residual_input_stays_alive_until_the_add() -> None:
    a = _compile("conv1x1(8) -> residual<conv1x1(8) -> conv1x1(8) -> conv1x1(8)>")
    mem = activation_memory(a.graph, a.shapes)
    # while the add runs: the shortcut (conv1), the body's last output and the sum
    assert mem.peak == 3 * 8 * 64


def test_concat_branches_stay_alive_until_consumed() -> None:
    a = _compile("concat<conv1x1(4) | conv1x1(4) | conv1x1(4)>")
    mem = activation_memory(a.graph, a.shapes)
    # x is freed after the last branch reads it; then 3 branches (3 x 256) + concat (768)
    assert mem.peak == 3 * 256 + 768


def test_json_bytes_and_dtype_halving() -> None:
    a = _compile("conv3x3(4) -> relu -> conv3x3(2)")
    s32, s16 = summary_json(a), summary_json(a, "float16")
    assert s32["totals"]["param_bytes"] == (4 * 9 + 4 + 2 * 36 + 2) * 4
    assert s32["totals"]["activation_bytes"] == (256 + 256 + 128) * 4
    assert s32["totals"]["peak_activation_bytes"] == 512 * 4
    assert [layer["output_bytes"] for layer in s32["layers"]] == [1024, 1024, 512]
    for key in ("param_bytes", "activation_bytes", "peak_activation_bytes"):
        assert s16["totals"][key] * 2 == s32["totals"][key]
    assert (
        sum(layer["output_bytes"] for layer in s32["layers"]) == s32["totals"]["activation_bytes"]
    )


def test_symbolic_sizes_give_formulas() -> None:
    a = _compile("conv3x3(4, stride=2) -> relu", "1 x H x W")
    s = summary_json(a)
    assert s["totals"]["activation_bytes"] == "8*H*W"  # 2 layers x 4 ch x HW/4 x 4 bytes
    mem = activation_memory(a.graph, a.shapes)
    assert dims.show(mem.peak) == "2*H*W"
