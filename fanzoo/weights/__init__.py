"""Weights: the local cache, downloads with hash checks, and import of NNabla .h5 and PyTorch checkpoints."""
