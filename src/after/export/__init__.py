"""Deployment formats of a model bundle (ONNX)."""
