"""Code generation: IR graph + analysis + weights -> ONNX."""
