"""How bench/opset_consumers.py hands a model to each consumer, and reads what it says."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

RTOL, ATOL = 1e-3, 1e-4

# op names as consumers' messages give them: onnx2torch's OperationDescription, OpenVINO's
# "not supported ... ONNX operations: Flatten-21", ORT's "op_type:X", onnx's "No Op registered"
OP_PATTERNS = [
    r"operation_type='(\w+)', version=(\d+)",
    r"ONNX operations?:?\s*(?:\w+\.)?(\w+)-(\d+)",
    r"op_type:\s*(\w+)",
    r"for (\w+) with domain_version of (\d+)",
    r"No Op registered for (\w+)",
    r"Unable to find a (?:valid )?(?:converter|implementation) for (\w+)",
]


def first_op(message: str) -> str:
    """The op a consumer's message names, as Name-version where it gives the version."""
    for pattern in OP_PATTERNS:
        m = re.search(pattern, message)
        if m:
            return "-".join(g for g in m.groups() if g)
    return ""


def import_torch() -> Any:
    """torch, with torchvision importable (onnx2torch imports it) beside a CPU torch build:
    the CUDA wheel's two C schemas are declared, as tests/torchvision_shim.py does."""
    import torch

    try:
        import torchvision
    except RuntimeError:
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        sys.modules["_opset_consumers_torchvision_lib"] = lib  # type: ignore[assignment]
        import torchvision  # noqa: F401
    return torch


def close(out: Any, ref: Any) -> bool:
    """Whether a consumer's output matches ONNX Runtime's."""
    import numpy as np

    out = np.asarray(out, dtype=np.float64).reshape(ref.shape)
    return bool(np.abs(out - ref).max() <= RTOL * np.abs(ref).max() + ATOL)


def gap(out: Any, ref: Any) -> str:
    """The largest difference, relative to the reference's largest value."""
    import numpy as np

    diff = np.abs(np.asarray(out, dtype=np.float64).reshape(ref.shape) - ref).max()
    return f"{diff / np.abs(ref).max():.1e} of its largest value"


def run_ort(path: Path, feeds: dict[str, Any]) -> Any:
    """ONNX Runtime's CPU session's first output."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def c_ort_format(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """ORT's mobile conversion (tools.convert_onnx_models_to_ort), then the .ort file run."""
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    out = scratch / "ort"
    out.mkdir(exist_ok=True)
    convert_onnx_models_to_ort(path, out, [OptimizationStyle.Fixed])
    (ort_file,) = out.glob("*.ort")
    return run_ort(ort_file, feeds)


def c_reference(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """onnx.reference.ReferenceEvaluator, numpy's implementation of the specification."""
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(str(path)).run(None, feeds)[0]


def c_onnx2torch(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """onnx2torch.convert, then the torch module run."""
    torch = import_torch()
    from onnx2torch import convert

    module = convert(str(path)).eval()
    with torch.no_grad():
        out = module(*(torch.from_numpy(v) for v in feeds.values()))
    return (out[0] if isinstance(out, (list, tuple)) else out).numpy()


def c_openvino(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """OpenVINO's ONNX frontend (read_model), compiled for and run on the CPU."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(path)),
        "CPU",
        {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"},
    )
    return compiled(list(feeds.values()))[compiled.output(0)]


def c_onnxsim(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """onnxsim.simplify at the inputs' sizes (its own check on), the result run in ORT."""
    import onnx
    import onnxsim

    shapes = {k: list(v.shape) for k, v in feeds.items()}
    model, ok = onnxsim.simplify(str(path), check_n=1, overwrite_input_shapes=shapes)
    if not ok:
        raise RuntimeError("onnxsim: its check of the simplified model failed")
    out = scratch / "sim.onnx"
    onnx.save(model, str(out))
    return run_ort(out, feeds)


def c_onnxoptimizer(path: Path, feeds: dict[str, Any], scratch: Path) -> Any:
    """onnxoptimizer.optimize with its default passes, the result checked and run in ORT."""
    import onnx
    import onnxoptimizer

    model = onnxoptimizer.optimize(onnx.load(str(path)))
    onnx.checker.check_model(model)
    out = scratch / "opt.onnx"
    onnx.save(model, str(out))
    return run_ort(out, feeds)


RUNNERS: dict[str, Callable[[Path, dict[str, Any], Path], Any]] = {
    "ort-format": c_ort_format,
    "reference": c_reference,
    "onnx2torch": c_onnx2torch,
    "openvino": c_openvino,
    "onnxsim": c_onnxsim,
    "onnxoptimizer": c_onnxoptimizer,
}


def feeds_for(analysis: Any, path: Path, size: int) -> dict[str, Any]:
    """A random input of each model input's shape: batch 1, each symbolic size the smallest
    the network allows from `size` up."""
    import numpy as np
    import onnx

    rules = {r.symbol: r for r in analysis.sizes}
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in onnx.load(str(path), load_external_data=False).graph.input:
        dims = []
        for i, d in enumerate(inp.type.tensor_type.shape.dim):
            if d.HasField("dim_value"):
                dims.append(d.dim_value)
            elif i == 0:
                dims.append(1)
            else:
                rule = rules.get(d.dim_param)
                n = size
                while rule is not None and not rule.allows(n):
                    n += 1
                dims.append(n)
        feeds[inp.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def gmacs(analysis: Any, feeds: dict[str, Any]) -> float:
    """The model's multiply-adds at the fed sizes, in billions."""
    from dslc.report.summary import summary_json

    macs = summary_json(analysis)["totals"]["macs"]
    if isinstance(macs, str):  # symbolic: `733888*H*W`
        shape = next(iter(feeds.values())).shape
        macs = eval(macs, {"__builtins__": {}}, {"H": shape[-2], "W": shape[-1]})
    return float(macs) / 1e9
