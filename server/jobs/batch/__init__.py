"""Batch capture of a shot library on Ray (``python -m server batch``): inputs and manifests, the index, the runner."""
