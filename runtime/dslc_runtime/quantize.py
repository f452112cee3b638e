"""Static INT8 quantization of a float32 ONNX model with onnxruntime.quantization: QDQ format,
uint8 activations and int8 weights (U8S8, x86's fast path), weights per channel.

Only ops that ONNX Runtime's CPU provider runs in int8 once the QuantizeLinear/DequantizeLinear
pairs are fused (QLinearConv, QGemm, QLinearAdd, …) get Q/DQ pairs by default. Any other op
(Tanh, LayerNormalization, Gelu, ConvTranspose, HardSigmoid) runs in float between a dequantize
and a quantize either way, and its quantized weights would only be dequantized at every run
(bench/README.md).
"""

from __future__ import annotations

import contextlib
import difflib
import io
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import RunError, short_reason

__all__ = [
    "INT8_OPS",
    "METHODS",
    "QuantizeError",
    "Report",
    "Settings",
    "load_float_model",
    "quantize",
]

Array = np.ndarray[Any, Any]
Method = Literal["minmax", "entropy", "percentile"]
METHODS: tuple[Method, ...] = ("minmax", "entropy", "percentile")

# ops with an int8 kernel on ONNX Runtime's CPU provider after QDQ fusion (measured: bench/README.md)
INT8_OPS = frozenset(
    {
        "Conv", "Gemm", "MatMul", "Add", "Mul", "Sigmoid", "LeakyRelu", "AveragePool",
        "GlobalAveragePool", "MaxPool", "Concat", "Relu", "Clip", "Resize", "Flatten",
        "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Pad", "Split", "Slice",
    }
)  # fmt: skip
_INT8 = 3  # onnx.TensorProto.INT8
_CHUNK = 8  # calibration samples whose activations are held at once


class QuantizeError(RunError):
    """The model cannot be quantized as asked."""


@dataclass(frozen=True)
class Settings:
    """How to quantize. `op_types` None: the INT8_OPS the model has; `preprocess` None:
    onnxruntime's quant_pre_process for models dslc did not optimise."""

    per_channel: bool = True
    method: Method = "minmax"
    percentile: float = 99.999
    exclude: tuple[str, ...] = ()
    op_types: tuple[str, ...] | None = None
    reduce_range: bool = False
    activation: Literal["uint8", "int8"] = "uint8"
    preprocess: bool | None = None


@dataclass(frozen=True)
class Report:
    """What quantization did."""

    samples: int
    quantized_ops: tuple[str, ...]  # op types given Q/DQ pairs
    float_ops: dict[str, int]  # op type -> nodes left in float: no int8 kernel
    excluded: tuple[str, ...]  # op types and nodes kept in float as asked
    preprocessed: bool
    counts: dict[str, int] = field(default_factory=dict)  # op type -> nodes in the output
    per_channel_weights: int = 0  # int8 weights with a scale per output channel
    weights: int = 0  # int8 weights in all
    seconds: float = 0.0


def load_float_model(path: str) -> Any:
    """The onnx ModelProto at `path`; QuantizeError unless it is a float32 ONNX model with one
    input and no Q/DQ nodes yet."""
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's decode errors share no base
        raise QuantizeError(f"{path} is not an ONNX model: {short_reason(exc)}") from None
    graph = model.graph
    if not graph.node:
        raise QuantizeError(f"{path} is not an ONNX model (it holds no graph)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer):
        raise QuantizeError(
            f"{path} keeps its weights in an external data file: quantize reads models that "
            "hold their weights (below 2 GiB)"
        )
    ops = {n.op_type for n in graph.node}
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "DynamicQuantizeLinear"}:
        raise QuantizeError(f"{path} is quantized already; quantize the float32 model")
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(inputs) != 1:
        raise QuantizeError(f"{path} has {len(inputs)} inputs; calibration feeds models of one")
    wide = {10, 11, 16}  # float16, float64, bfloat16
    if inputs[0].type.tensor_type.elem_type in wide or any(
        t.data_type in wide for t in graph.initializer
    ):
        raise QuantizeError(
            f"{path} is not a float32 model; quantize a float32 one (dslc compile --dtype float32)"
        )
    return model


def _loadable(model: Any, path: str) -> None:
    """QuantizeError unless ONNX Runtime loads the model: its quantizer would fail later,
    printing its own traceback, on a model it cannot load (an IR version too new, a type
    it has no kernel for)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # the reason comes with the exception
    try:
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT errors share no base
        raise QuantizeError(f"ONNX Runtime cannot load {path}: {short_reason(exc)}") from None


def _targets(model: Any, settings: Settings) -> tuple[list[str], list[str], dict[str, int]]:
    """Op types to quantize, nodes to exclude, and op type -> nodes without an int8 kernel."""
    nodes = list(model.graph.node)
    types = Counter(n.op_type for n in nodes)
    names = {n.name for n in nodes if n.name}
    excluded_types = {e for e in settings.exclude if e in types}
    excluded_nodes = [e for e in settings.exclude if e in names and e not in excluded_types]
    unknown = [e for e in settings.exclude if e not in types and e not in names]
    if unknown:
        hints = [m for e in unknown for m in difflib.get_close_matches(e, [*types, *names], 1)]
        also = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise QuantizeError(
            f"--exclude {', '.join(unknown)}: no op type or node of that name in the model{also}; "
            f"its op types: {', '.join(sorted(types))}"
        )
    wanted = INT8_OPS if settings.op_types is None else frozenset(settings.op_types)
    quantize = sorted(t for t in types if t in wanted and t not in excluded_types)
    no_kernel = {t: c for t, c in sorted(types.items()) if t not in wanted}
    return quantize, excluded_nodes, no_kernel


class _Reader:
    """onnxruntime's CalibrationDataReader over samples (batches of one), in ranges
    (set_range) so that only a few samples' activations are held at once."""

    def __init__(self, name: str, samples: Sequence[Array]) -> None:
        self.name, self.samples = name, samples
        self.start, self.end = 0, len(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end = start_index, end_index

    def get_next(self) -> dict[str, Array] | None:
        if self.start >= self.end:
            return None
        self.start += 1
        return {self.name: self.samples[self.start - 1]}


def _stride(n: int) -> int:
    """The largest divisor of n up to _CHUNK (onnxruntime's strided calibration needs one)."""
    return max(d for d in range(1, min(n, _CHUNK) + 1) if n % d == 0)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime.quantization logs advice as warnings through the root logger, and its
    histogram calibrators print their progress."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


def _should_preprocess(model: Any, settings: Settings) -> bool:
    if settings.preprocess is not None:
        return settings.preprocess
    meta = {p.key: p.value for p in model.metadata_props}
    return meta.get("dslc.optimize") != "true"  # dslc's inference graph is optimised already


def _preprocess(model: Any, scratch: Path) -> Any:
    """onnxruntime's quant_pre_process: shape inference and graph optimisation (batch norm
    folded into convolutions), which make more of the graph quantizable."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = scratch / "preprocessed.onnx"
    try:
        quant_pre_process(model, str(out))
    except Exception as exc:  # noqa: BLE001 - shape inference fails in many ways
        raise QuantizeError(f"pre-processing failed: {short_reason(exc)}") from None
    return onnx.load(str(out))


def _method(settings: Settings) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[settings.method]


def _run_quantizer(
    model: Any,
    samples: Sequence[Array],
    settings: Settings,
    targets: tuple[list[str], list[str]],
    out: Path,
) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    act = QuantType.QUInt8 if settings.activation == "uint8" else QuantType.QInt8
    extra = {"CalibStridedMinMax": _stride(len(samples)), "CalibPercentile": settings.percentile}
    try:
        quantize_static(
            model,
            str(out),
            _Reader(model.graph.input[0].name, samples),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=targets[0],
            nodes_to_exclude=targets[1],
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            activation_type=act,
            weight_type=QuantType.QInt8,
            calibrate_method=_method(settings),
            calibration_providers=["CPUExecutionProvider"],
            extra_options=extra,
        )
    except OSError:
        raise  # writing its scratch models: said by quantize() with the folder
    except Exception as exc:  # noqa: BLE001 - ORT's errors (a model it cannot load) share no base
        raise QuantizeError(f"quantization failed: {short_reason(exc)}") from None


def _per_channel(model: Any) -> tuple[int, int]:
    """(weights dequantized with a scale per channel, int8 weights in all)."""
    inits = {t.name: t for t in model.graph.initializer}
    weights = [
        n
        for n in model.graph.node
        if n.op_type == "DequantizeLinear"
        and n.input[0] in inits
        and inits[n.input[0]].data_type == _INT8
    ]
    scales = [int(np.prod(inits[n.input[1]].dims)) if n.input[1] in inits else 1 for n in weights]
    return sum(s > 1 for s in scales), len(weights)


def _stamp(model: Any, settings: Settings, samples: int) -> None:
    """Record the quantization in the model's metadata (`dslc.quantized`)."""
    import json

    note = {
        "format": "QDQ",
        "activations": settings.activation,
        "weights": "int8",
        "per_channel": settings.per_channel,
        "method": settings.method,
        "samples": samples,
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = "dslc.quantized", json.dumps(note, sort_keys=True)


def quantize(
    path: str, samples: Sequence[Array], settings: Settings | None = None
) -> tuple[bytes, Report]:
    """The INT8 QDQ model of the float32 model at `path`, calibrated on `samples` (each a
    batch of one), serialised, and a report of what was quantized."""
    import onnx

    settings = settings or Settings()
    start = time.perf_counter()
    model = load_float_model(path)
    _loadable(model, path)
    if len(samples) == 0:
        raise QuantizeError("no calibration samples")
    try:
        with tempfile.TemporaryDirectory(prefix="dslc-quantize-") as tmp, _quiet():
            scratch = Path(tmp)
            pre = _should_preprocess(model, settings)
            if pre:
                model = _preprocess(model, scratch)
            op_types, excluded, left = _targets(model, settings)
            if not op_types:
                raise QuantizeError(
                    "nothing to quantize: every op type is excluded or has no int8 kernel"
                )
            _run_quantizer(model, samples, settings, (op_types, excluded), scratch / "int8.onnx")
            result = onnx.load(str(scratch / "int8.onnx"))
    except OSError as exc:  # the scratch models ONNX Runtime's quantizer writes and reads
        raise QuantizeError(
            f"cannot write the quantizer's scratch models in {tempfile.gettempdir()}: "
            f"{exc.strerror or exc} (is the disk full? TMPDIR names another folder)"
        ) from None
    if not any(n.op_type == "QuantizeLinear" for n in result.graph.node):
        raise QuantizeError(
            "nothing was quantized: no op of the model runs in int8 on ONNX Runtime's CPU "
            f"provider (its ops: {', '.join(sorted({n.op_type for n in model.graph.node}))})"
        )
    _stamp(result, settings, len(samples))
    data: bytes = result.SerializeToString()
    per_channel, weights = _per_channel(result)
    report = Report(
        samples=len(samples),
        quantized_ops=tuple(op_types),
        float_ops=left,
        excluded=settings.exclude,
        preprocessed=pre,
        counts=dict(Counter(n.op_type for n in result.graph.node)),
        per_channel_weights=per_channel,
        weights=weights,
        seconds=time.perf_counter() - start,
    )
    return data, report
