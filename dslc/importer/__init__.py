"""importer: ONNX models into the IR, so every analysis works on them."""
