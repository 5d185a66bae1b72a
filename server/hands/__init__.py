"""Fingers: the angles of a hand's joints from its landmarks (and, from them, the finger bones' rotations)."""
