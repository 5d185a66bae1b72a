"""Keyframe cleanup with the diffusion prior: denoise and complete SMPL motion (issue 6, worker side)."""
