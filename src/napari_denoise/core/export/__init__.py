"""Networks out of this package's own format: ONNX (:mod:`.onnx`)."""
