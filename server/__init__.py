"""The blender_scorehmr worker: footage -> SMPL motion. Run as ``python -m server``.

Importing this package imports nothing heavy; the protocol module is shared with the add-on.
"""
__version__ = "0.1.0"
