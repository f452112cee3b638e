"""A Triton Inference Server model configuration (config.pbtxt) read off an ONNX model's
signature: tensor names, Triton data types, dims without the batch dimension (symbolic sizes
become -1), dynamic batching, instance groups and the TensorRT FP16 accelerator.

The batch rule (the mismatch Triton users meet most): a model can be served with
max_batch_size > 0 only if the leading dimension of every input and output is symbolic. A model
whose batch dimension is a fixed number gets max_batch_size 0 and its full dims; asking for
batching of such a model is refused (`BatchError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

__all__ = [
    "BatchError",
    "Serving",
    "Signature",
    "Tensor",
    "config_text",
    "external_files",
    "labelled_outputs",
    "quote",
    "read_model",
    "signature",
]

# ONNX element types that Triton names (model_config.proto's DataType).
_TYPES: dict[int, str] = {
    onnx.TensorProto.BOOL: "TYPE_BOOL",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
    onnx.TensorProto.UINT16: "TYPE_UINT16",
    onnx.TensorProto.UINT32: "TYPE_UINT32",
    onnx.TensorProto.UINT64: "TYPE_UINT64",
    onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.INT16: "TYPE_INT16",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.BFLOAT16: "TYPE_BF16",
    onnx.TensorProto.STRING: "TYPE_STRING",
}

Dim = int | str  # a size, or a symbol ('' when the model names none)


class BatchError(ValueError):
    """Batching asked of a model whose batch dimension is fixed."""


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    dtype: str  # Triton's name: TYPE_FP32, ...
    shape: tuple[Dim, ...]  # the full ONNX shape, batch dimension included

    def batchable(self) -> bool:
        return bool(self.shape) and isinstance(self.shape[0], str)


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    def fixed_batch(self) -> Tensor | None:
        """The first tensor whose leading dimension is not symbolic (so no batching)."""
        return next((t for t in (*self.inputs, *self.outputs) if not t.batchable()), None)


@dataclass(frozen=True, slots=True)
class Serving:
    """How the model is served: batching, instances, device and accelerator."""

    name: str
    max_batch: int
    instances: int = 1
    gpu: bool = True
    preferred: tuple[int, ...] = ()
    queue_delay_us: int = 0
    tensorrt_fp16: bool = False
    labelled: tuple[str, ...] = ()  # outputs that get label_filename
    labels_file: str = "labels.txt"


def read_model(path: Path) -> onnx.ModelProto:
    """The model's graph without its external weights (only the signature is needed)."""
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and others
        raise ValueError(f"{path} is not an ONNX model ({type(exc).__name__}: {exc})") from None


def external_files(model: onnx.ModelProto) -> tuple[str, ...]:
    """The external data files the model's initialisers name, relative to the model."""
    found: dict[str, None] = {}
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            entry = {e.key: e.value for e in init.external_data}
            if "location" in entry:
                found[entry["location"]] = None
    return tuple(found)


def _tensor(value: onnx.ValueInfoProto, kind: str) -> Tensor:
    if not value.type.HasField("tensor_type"):
        raise ValueError(f"{kind} '{value.name}' is not a tensor; Triton serves tensors only")
    t = value.type.tensor_type
    if t.elem_type not in _TYPES:
        raise ValueError(
            f"{kind} '{value.name}' has ONNX type {onnx.TensorProto.DataType.Name(t.elem_type)}, "
            "which Triton has no data type for"
        )
    if not t.HasField("shape"):
        raise ValueError(
            f"{kind} '{value.name}' declares no shape; Triton needs its dims "
            "(run onnx.shape_inference on the model first)"
        )
    dims: list[Dim] = []
    for d in t.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else d.dim_param)
    return Tensor(value.name, _TYPES[t.elem_type], tuple(dims))


def signature(model: onnx.ModelProto) -> Signature:
    """Inputs (those that are not initialisers) and outputs, with Triton's types."""
    weights = {i.name for i in model.graph.initializer}
    inputs = tuple(_tensor(v, "input") for v in model.graph.input if v.name not in weights)
    outputs = tuple(_tensor(v, "output") for v in model.graph.output)
    if not inputs or not outputs:
        raise ValueError("the model has no inputs or no outputs; Triton cannot serve it")
    return Signature(inputs, outputs)


def labelled_outputs(sig: Signature, count: int, batched: bool) -> tuple[str, ...]:
    """The outputs with exactly `count` values per item (their labels file applies)."""
    found = []
    for t in sig.outputs:
        dims = t.shape[1:] if batched else t.shape
        if all(isinstance(d, int) for d in dims):
            size = 1
            for d in dims:
                size *= int(d)
            if size == count:
                found.append(t.name)
    return tuple(found)


def quote(text: str) -> str:
    """A protobuf text-format string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _dims(values: tuple[Dim, ...]) -> str:
    return "[ " + ", ".join(str(d) if isinstance(d, int) else "-1" for d in values) + " ]"


def _tensors(kind: str, tensors: tuple[Tensor, ...], serving: Serving) -> list[str]:
    batched = serving.max_batch > 0
    lines = [f"{kind} ["]
    for i, t in enumerate(tensors):
        dims = t.shape[1:] if batched else t.shape
        lines += ["  {", f"    name: {quote(t.name)}", f"    data_type: {t.dtype}"]
        if dims:
            lines.append(f"    dims: {_dims(dims)}")
        else:  # a scalar per item: Triton needs a dim, the model gets no extra axis
            lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
        if t.name in serving.labelled:
            lines.append(f"    label_filename: {quote(serving.labels_file)}")
        lines.append("  }," if i < len(tensors) - 1 else "  }")
    return [*lines, "]"]


def _batching(serving: Serving) -> list[str]:
    if serving.max_batch == 0:
        return []
    lines = []
    if serving.preferred:
        lines.append(f"  preferred_batch_size: {_dims(serving.preferred)}")
    if serving.queue_delay_us:
        lines.append(f"  max_queue_delay_microseconds: {serving.queue_delay_us}")
    return ["dynamic_batching {", *lines, "}"] if lines else ["dynamic_batching { }"]


def _accelerator(serving: Serving) -> list[str]:
    if not serving.tensorrt_fp16:
        return []
    return [
        "optimization {",
        "  execution_accelerators {",
        "    gpu_execution_accelerator: [",
        "      {",
        '        name: "tensorrt"',
        '        parameters { key: "precision_mode" value: "FP16" }',
        '        parameters { key: "max_workspace_size_bytes" value: "1073741824" }',
        "      }",
        "    ]",
        "  }",
        "}",
    ]


def config_text(sig: Signature, serving: Serving, header: str = "") -> str:
    """config.pbtxt for the onnxruntime backend. Raises BatchError for batching asked of a
    model with a fixed batch dimension."""
    fixed = sig.fixed_batch()
    if serving.max_batch > 0 and fixed is not None:
        shape = "[" + ", ".join(str(d) if d != "" else "?" for d in fixed.shape) + "]"
        raise BatchError(
            f"'{fixed.name}' has shape {shape}: its batch dimension is fixed, so Triton would "
            f"reject max_batch_size {serving.max_batch}. Serve it unbatched with --max-batch 0 "
            "(Triton then passes whole tensors), or compile the model with a symbolic batch "
            "dimension (dslc's models always have one: N)"
        )
    kind = "KIND_GPU" if serving.gpu else "KIND_CPU"
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [
        f"name: {quote(serving.name)}",
        'backend: "onnxruntime"',
        f"max_batch_size: {serving.max_batch}",
        *_tensors("input", sig.inputs, serving),
        *_tensors("output", sig.outputs, serving),
        *_batching(serving),
        "instance_group [",
        "  {",
        f"    count: {serving.instances}",
        f"    kind: {kind}",
        "  }",
        "]",
        *_accelerator(serving),
    ]
    return "\n".join(lines) + "\n"
