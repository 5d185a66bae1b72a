"""Training of the worker's networks on motion capture with synthetic observations."""
