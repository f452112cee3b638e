"""The check every test of compiled models shares: each tensor a node computes carries
value_info, and ONNX's own shape inference agrees with it."""

from __future__ import annotations

import onnx
from onnx import shape_inference

__all__ = ["assert_value_info"]


def _dims(value: onnx.ValueInfoProto) -> list[int | str | None]:
    """int where known, the symbol's text, or None where the dim is open."""
    out: list[int | str | None] = []
    for d in value.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField("dim_value") else d.dim_param or None)
    return out


def _without_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose initializers keep their names, types and dims but not their bytes:
    inference needs only those, and copying a VGG's weights takes seconds."""
    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    g, graph = light.graph, model.graph
    g.name = graph.name
    for field in ("node", "input", "output", "value_info"):
        getattr(g, field).extend(getattr(graph, field))
    for t in graph.initializer:
        g.initializer.add(name=t.name, data_type=t.data_type, dims=t.dims)
    return light


def assert_value_info(model: onnx.ModelProto, *, fixed: bool = False) -> int:
    """Every tensor a node computes, bar the graph's outputs, has value_info with every dim
    given (an int, or dslc's symbol: `N`, `H/8`); strict inference keeps it; inference on the
    bare graph agrees: equal where ONNX finds a number or keeps an input's symbol, and, with
    `fixed` (sizes fixed but the batch), ONNX finds every number we write. Returns how many."""
    produced = [name for node in model.graph.node for name in node.output]
    declared = {v.name for v in model.graph.output}
    ours = {v.name: v for v in model.graph.value_info}
    assert len(ours) == len(model.graph.value_info), "a tensor has two value_infos"
    assert sorted(ours) == sorted(p for p in produced if p not in declared)
    for name, v in ours.items():
        dims = _dims(v)
        assert None not in dims and not any(str(d).startswith("unk__") for d in dims), (name, dims)
    light = _without_weights(model)
    shape_inference.infer_shapes(light, strict_mode=True)  # raises on a contradiction
    bare = light
    del bare.graph.value_info[:]
    inferred = shape_inference.infer_shapes(bare, strict_mode=True, data_prop=True)
    theirs = {v.name: v for v in inferred.graph.value_info}
    for name, v in ours.items():
        other = theirs.get(name)
        if other is None:  # ONNX found nothing: nothing to contradict
            assert not fixed, f"ONNX infers no shape for {name}"
            continue
        assert v.type.tensor_type.elem_type == other.type.tensor_type.elem_type, name
        if not other.type.tensor_type.HasField("shape"):
            assert not fixed, f"ONNX infers no shape for {name}"
            continue
        mine, found = _dims(v), _dims(other)
        assert len(mine) == len(found), (name, mine, found)
        for a, b in zip(mine, found, strict=True):
            if isinstance(b, int) or (isinstance(b, str) and not b.startswith("unk__")):
                assert a == b, f"{name}: ONNX infers {found}, dslc writes {mine}"
            elif fixed and isinstance(a, int):
                raise AssertionError(f"{name}: ONNX infers {found}, dslc writes {mine}")
    return len(ours)
