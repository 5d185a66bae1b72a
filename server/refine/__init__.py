"""Score-guided diffusion refinement of body estimates (ScoreHMR, with HMDiff alignment and Diff-HMR hypotheses)."""
