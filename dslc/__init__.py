"""dslc: a compiler from .xnet network descriptions to ONNX."""

__version__ = "0.1.0"
