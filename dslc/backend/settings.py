"""The backend's choices, as plain data: importing this loads neither numpy nor onnx."""

from __future__ import annotations

__all__ = ["DEFAULT_OPSET", "DTYPES", "OPSETS", "SCHEMES"]

DEFAULT_OPSET = 21
OPSETS = range(17, 27)  # the opsets the emitter supports
SCHEMES = ("pytorch", "he", "xavier")  # weight initialisation schemes (--init)
DTYPES = ("float32", "float16")  # the types weights and computation can have
