"""Putting a capture in the world: the ground plane, foot contacts and foot locking (issue 7, in progress)."""
