"""ScoreHMR's diffusion prior over the 144-D 6D body pose: schedule, denoiser, condition features."""
