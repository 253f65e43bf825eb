"""Export registered models to NNP and ONNX artifacts that carry their own reference tensors and manifest."""
