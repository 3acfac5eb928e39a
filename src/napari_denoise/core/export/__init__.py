"""Models in and out of this package's own format: ``export_model`` (:mod:`.exporter`)
writes a BioImage Model Zoo package (:mod:`.bioimageio`), ONNX (:mod:`.onnx`) or
TorchScript (:mod:`.torchscript`); packages from anywhere run in the engine
(:mod:`.package`, :mod:`.package_run`); ONNX Runtime inference (:mod:`.ort_runner`)."""
