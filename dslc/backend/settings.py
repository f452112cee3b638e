"""The backend's choices, as plain data: importing this loads neither numpy nor onnx."""

from __future__ import annotations

__all__ = ["DEFAULT_OPSET", "DTYPES", "OPSETS", "SCHEMES", "TARGETS"]

OPSETS = range(17, 27)  # the opsets the emitter supports
# `--target NAME`: the opset that reaches the most releases of that consumer while it takes
# every zoo model (bench/opset_consumers.py; README "Which opset"). dslc's graphs gain nothing
# from a newer opset (only GELU changes form: one Gelu node from 20, Erf below), so each is
# the lowest opset every release in use accepts.
TARGETS = {
    "ort": 17,  # every ONNX Runtime since ONNX 1.12 (2022); 21 needs 1.18
    "tensorrt": 17,  # TensorRT 8.5/8.6 (JetPack 5) take up to 17; 10.15 takes 9-24
    "onnx2torch": 17,  # onnx2torch 1.5 converts no Resize-18, AveragePool-19, Flatten-21, Conv-22
    "openvino": 17,
    "web": 17,  # ORT Web: WASM runs ORT's CPU kernels; WebGPU has Transpose up to 20 only
    "mobile": 17,  # the ORT-format conversion; a reduced build holds just the model's ops
}
DEFAULT_OPSET = 17  # the opset every consumer in TARGETS accepts
SCHEMES = ("pytorch", "he", "xavier")  # weight initialisation schemes (--init)
DTYPES = ("float32", "float16")  # the types weights and computation can have
