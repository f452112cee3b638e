"""Receptive fields measured on the compiled ONNX model with ONNX Runtime.

An independent check of the analysis: the network is cut at one layer, compiled as usual, then
rewritten so that it only tracks *which* outputs an input pixel can reach: every weight is 1
and every bias 0, max pooling becomes average pooling, activations, normalisation and dropout
become identities, and a Sign after every mixing op keeps values in {0, 1} (no underflow in
deep networks, no overflow). With identical channels everywhere one channel suffices, so
convolutions lose their channels and concat becomes a sum. A product becomes the sum of its
full-size inputs: a gate's N x C x 1 x 1 factor (squeeze-and-excitation) and a layer scale
only rescale channels, and leave the field alone as the analysis does. Whole rows (then whole columns) of
the input are set to 1, one per batch sample; a unit's field along an axis runs from the first
to the last row that reaches it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dslc.backend.reach_channels import REARRANGING, constants, one_channel
from dslc.diagnostics import DiagnosticError, Sink
from dslc.ir.graph import Graph
from dslc.ir.ops import DeconvAttrs, InputAttrs, Op
from dslc.ir.shapes import infer_shapes
from dslc.passes import Analysis, analyse
from dslc.passes.receptive_field import RF, Axis

__all__ = [
    "IDENTITIES",
    "MIXING",
    "AxisMeasure",
    "MeasureError",
    "Measured",
    "Progress",
    "cut",
    "default_size",
    "fits",
    "measure",
    "reachability_model",
    "resampled",
]

IDENTITIES = {
    "Relu",
    "Sigmoid",
    "Tanh",
    "LeakyRelu",
    "Elu",
    "Clip",
    "Softmax",
    "LRN",
    "Dropout",
    "Identity",
    "BatchNormalization",
    "HardSwish",
    "HardSigmoid",
    "Gelu",
    "PRelu",
    "LayerNormalization",
}
MIXING = {
    "Conv",
    "ConvTranspose",
    "AveragePool",
    "GlobalAveragePool",
    "Sum",
    "Add",
    "Resize",
    "MatMul",
}


class MeasureError(Exception):
    """The field cannot be measured (say why)."""


@dataclass(frozen=True, slots=True)
class AxisMeasure:
    """One axis: every unit's first and last reaching input pixel, and the units used."""

    lo: np.ndarray  # per output unit; -1 where nothing reaches it
    hi: np.ndarray
    interior: np.ndarray  # bool per unit: field away from the borders


@dataclass(frozen=True, slots=True)
class Measured:
    """The measurement of one layer at one input size."""

    layer: str
    size: tuple[int, int]  # the input's H x W used
    analytic: RF
    h: AxisMeasure
    w: AxisMeasure
    resampled: bool = False  # upsampling or a strided transposed conv on the way

    def notes(self) -> list[str]:
        """What is not compared, and why."""
        if not self.resampled:
            return []
        return [
            (
                "after upsampling or a strided transposed conv, units' fields vary with their "
                "phase and Araujo et al.'s size is an average; sizes are shown, not compared"
            )
        ]

    def axis_size(self, ax: AxisMeasure) -> int | None:
        """The largest field size over the interior units (None when there are none)."""
        if not ax.interior.any():
            return None
        return int((ax.hi - ax.lo + 1)[ax.interior].max())

    def disagreements(self) -> list[str]:
        """How the measurement differs from the analysis (empty when they agree)."""
        out: list[str] = []
        if self.resampled:
            return out
        for name, ax, an in (
            ("height", self.h, self.analytic.h),
            ("width", self.w, self.analytic.w),
        ):
            got = self.axis_size(ax)
            if got is None:
                out.append(f"{name}: no unit is away from the borders; use a larger --size")
                continue
            if Fraction(got) != an.size:
                out.append(f"{name}: measured size {got}, analysed {_f(an.size)}")
            if an.jump.denominator == 1:  # integer jump: every interior unit's centre is exact
                for u in np.flatnonzero(ax.interior):
                    centre = Fraction(int(ax.lo[u] + ax.hi[u]), 2)
                    if centre != an.start + int(u) * an.jump:
                        out.append(
                            f"{name}: unit {u} is centred at {_f(centre)}, analysed "
                            f"{_f(an.start + int(u) * an.jump)}"
                        )
                        break
        return out


def _f(x: Fraction | int) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):g}"


def cut(analysis: Analysis, node_id: int, size: tuple[int, int] | None) -> Analysis:
    """The network up to node_id (its only output), inputs resized to `size` (H, W)."""
    g = analysis.graph
    nodes = list(g.nodes[: node_id + 1])
    if size is not None:
        for i in g.inputs:
            if i <= node_id:
                a = nodes[i].attrs
                assert isinstance(a, InputAttrs)
                shape = (*a.shape[:-2], *size) if len(a.shape) == 4 else a.shape
                nodes[i] = dataclasses.replace(nodes[i], attrs=InputAttrs(shape))
    sub = Graph(
        g.name, tuple(nodes), tuple(i for i in g.inputs if i <= node_id), (node_id,), g.source_text
    )
    try:
        shapes = infer_shapes(sub)
    except DiagnosticError as exc:
        raise MeasureError(f"the network does not take a {size} input: {exc.message}") from None
    return analyse(sub, shapes, analysis.params, None, Sink())


def _ones(model: onnx.ModelProto, name: str, kh: int, kw: int) -> None:
    model.graph.initializer.append(
        numpy_helper.from_array(np.ones((1, 1, kh, kw), np.float32), name)
    )


def reachability_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite a compiled model into the 0/1 reachability network described above."""
    inits = {t.name: t for t in model.graph.initializer}
    consts = constants(model)
    gates = _channel_factors(model)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.initializer[:], out.graph.node[:], out.graph.value_info[:]
    for node in model.graph.node:
        n = onnx.NodeProto()
        n.CopyFrom(node)
        if n.op_type in REARRANGING:  # channel and block moves: may become an identity or mixing
            one_channel(n, consts, out)
        attrs = {a.name: a for a in n.attribute}
        if n.op_type in ("Conv", "ConvTranspose"):
            w = inits[n.input[1]]
            _ones(out, f"{n.name}.ones", int(w.dims[2]), int(w.dims[3]))
            del n.input[1:]
            n.input.append(f"{n.name}.ones")
            if "group" in attrs:
                attrs["group"].i = 1
            if "output_shape" in attrs:
                raise MeasureError("transposed conv with output_shape is not supported")
        elif n.op_type in IDENTITIES:
            del n.input[1:], n.attribute[:]
            n.op_type = "Identity"
        elif n.op_type == "MaxPool":
            n.op_type = "AveragePool"
            keep = [a for a in n.attribute if a.name != "storage_order"]
            del n.attribute[:]
            n.attribute.extend([*keep, helper.make_attribute("count_include_pad", 0)])
        elif n.op_type == "GlobalMaxPool":
            n.op_type = "GlobalAveragePool"
        elif n.op_type == "Concat" and attrs["axis"].i == 1:
            n.op_type = "Sum"
            del n.attribute[:]
        elif n.op_type == "Mul":
            keep = (
                [i for i in n.input if i not in gates]
                or [i for i in n.input if i not in inits]
                or list(n.input)
            )
            del n.input[:]
            n.input.extend(keep)
            n.op_type = "Sum"
        for i in n.input:
            if i in inits and n.op_type not in ("Conv", "ConvTranspose"):
                out.graph.initializer.append(inits[i])
        if n.op_type in MIXING:
            final = n.output[0]
            n.output[0] = f"{final}.raw"
            out.graph.node.append(n)
            out.graph.node.append(
                helper.make_node("Sign", [f"{final}.raw"], [final], name=f"{final}.sign")
            )
        else:
            out.graph.node.append(n)
    for v in (*out.graph.input, *out.graph.output):
        t = v.type.tensor_type
        t.elem_type = TensorProto.FLOAT
        for k, d in enumerate(t.shape.dim):
            if k > 0:
                d.Clear()
                d.dim_param = f"d{k}"
    return out


def _channel_factors(model: onnx.ModelProto) -> set[str]:
    """Tensors that only scale channels: initializers (a layer scale) and N x C x 1 x 1
    maps (a squeeze-and-excitation gate), by ONNX shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model)
    out = {t.name for t in model.graph.initializer}
    for v in inferred.graph.value_info:
        d = v.type.tensor_type.shape.dim
        if len(d) == 4 and d[2].dim_value == 1 and d[3].dim_value == 1:
            out.add(v.name)
    return out


Progress = Callable[[int, int], None]  # (runs done, runs in all)


def _reach(
    session: object,
    name: str,
    shape: tuple[int, int],
    axis: int,
    chunk: int,
    tick: Callable[[], None],
) -> tuple[np.ndarray, np.ndarray]:
    """Per output unit along `axis` (0: rows, 1: columns): first and last reaching pixel."""
    n = shape[axis]
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    for start in range(0, n, chunk):
        idx = np.arange(start, min(n, start + chunk))
        x = np.zeros((len(idx), 1, *shape), np.float32)
        if axis == 0:
            x[np.arange(len(idx)), 0, idx, :] = 1
        else:
            x[np.arange(len(idx)), 0, :, idx] = 1
        (y,) = session.run(None, {name: x})  # type: ignore[attr-defined]
        tick()
        hit = y.max(axis=(1, 3 - axis)) > 0  # (batch, units along axis)
        if lo is None or hi is None:
            lo = np.full(hit.shape[1], -1)
            hi = np.full(hit.shape[1], -1)
        for row, r in zip(hit, idx):
            lo = np.where(row & (lo < 0), r, lo)
            hi = np.where(row, r, hi)
    assert lo is not None and hi is not None
    return lo, hi


def _interior(lo: np.ndarray, hi: np.ndarray, an: Axis, n: int) -> np.ndarray:
    """Units whose analysed field, and measured reach, lie inside the input with a margin."""
    u = np.arange(len(lo))
    centre = np.array([float(an.start + int(k) * an.jump) for k in u])
    half = float((an.size - 1) / 2)
    margin = float(an.jump) + 1
    ok = (centre - half >= margin) & (centre + half <= n - 1 - margin)
    return ok & (lo > 0) & (hi < n - 1)


def measure(
    analysis: Analysis,
    node_id: int,
    size: tuple[int, int] | None = None,
    chunk: int = 32,
    progress: Progress | None = None,
) -> Measured:
    """Measure the field of one node on ONNX Runtime (CPU) at input size `size`;
    `progress(done, total)` is called after each run of the model."""
    import onnxruntime as ort

    from dslc.backend.onnx import serialize, to_onnx

    sub = cut(analysis, node_id, size)
    rf = sub.rfs[node_id]
    if rf is None:
        raise MeasureError(f"'{sub.graph.node(node_id).name}' has no spatial field")
    first = sub.graph.inputs[0]
    shape = sub.shapes[first]
    if not (isinstance(shape[-2], int) and isinstance(shape[-1], int)):
        raise MeasureError("the input size is symbolic; give one with --size H=...,W=...")
    hw = (shape[-2], shape[-1])
    model = reachability_model(to_onnx(sub))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(serialize(model), options, providers=["CPUExecutionProvider"])
    name = sub.graph.node(first).name
    runs = [0, -(-hw[0] // chunk) + -(-hw[1] // chunk)]

    def tick() -> None:
        runs[0] += 1
        if progress is not None:
            progress(runs[0], runs[1])

    axes = []
    for axis, an in ((0, rf.h), (1, rf.w)):
        lo, hi = _reach(session, name, hw, axis, chunk, tick)
        axes.append(AxisMeasure(lo, hi, _interior(lo, hi, an, hw[axis])))
    return Measured(sub.graph.node(node_id).name, hw, rf, axes[0], axes[1], resampled(sub, node_id))


def resampled(analysis: Analysis, node_id: int) -> bool:
    """Whether the path to node_id upsamples (depth_to_space too) or runs a strided
    transposed conv."""
    for n in analysis.graph.ancestors(analysis.graph.node(node_id)):
        a = n.attrs
        if n.op in (Op.UPSAMPLE, Op.DEPTH_TO_SPACE) or (
            isinstance(a, DeconvAttrs) and max(a.stride) > 1
        ):
            return True
    return False


def default_size(analysis: Analysis, node_id: int) -> tuple[int, int] | None:
    """An input size that leaves room for interior units (None: keep the model's own)."""
    rf = analysis.rfs[node_id]
    shape = analysis.shapes[analysis.graph.inputs[0]]
    if rf is None:
        return None
    need = []
    for ax in (rf.h, rf.w):
        n = int(ax.size + 6 * max(ax.jump, Fraction(1))) + 8
        need.append(-(-n // 32) * 32)
    known = [d for d in shape[-2:] if isinstance(d, int)]
    if len(known) == 2 and all(k >= n for k, n in zip(known, need)):
        return None
    side = max(need)
    return side, side


def fits(analysis: Analysis, node_id: int, size: tuple[int, int]) -> tuple[int, int]:
    """The first size at or above `size` (per axis, up to +63) the network accepts."""
    for extra in range(64):
        s = (size[0] + extra, size[1] + extra)
        try:
            cut(analysis, node_id, s)
            return s
        except MeasureError:
            continue
    raise MeasureError(
        f"no input size from {size[0]}x{size[1]} to {size[0] + 63}x{size[1] + 63} fits the network"
    )
