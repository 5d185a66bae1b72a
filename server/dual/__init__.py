"""The dual motion model: one sequence network that is both a clip's initial estimate and its diffusion prior
(experimental; it reads the per-frame regressor and the diffusion schedule, and neither depends on it)."""
