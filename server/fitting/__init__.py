"""Shared pieces of every fit (regression, ScoreHMR guidance, the optimisation baseline): cameras, losses, state."""
