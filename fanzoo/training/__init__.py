"""Training FAN variants in NNabla on iBUG-annotated faces (300-W), resumable from checkpoints."""
