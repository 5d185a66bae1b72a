"""Overlapping windows over clips of any length: coverage, blending, and the same answer as one window."""
from __future__ import annotations

import pytest
import torch

from server.diffusion.motion import MotionConfig, MotionDenoiser
from server.diffusion.windows import WindowedPrior, plan_windows, window_starts

SMALL = MotionConfig(window=8, channels=16, num_blocks=2, time_dim=16)


def test_window_starts_cover_the_clip_and_end_at_its_end() -> None:
    assert window_starts(5, 8, 4) == [0]
    assert window_starts(8, 8, 4) == [0]
    assert window_starts(21, 8, 4) == [0, 4, 8, 12, 13]
    for n in (9, 16, 33):
        starts = window_starts(n, 8, 4)
        covered = set()
        for s in starts:
            covered.update(range(s, s + 8))
        assert covered == set(range(n)) and starts[-1] == n - 8


def test_plan_pads_short_clips_with_weightless_repeats() -> None:
    rows, weights = plan_windows([3, 10], 8, 4)
    assert rows.shape == weights.shape and rows.shape[1] == 8
    assert rows[0].tolist() == [0, 1, 2, 2, 2, 2, 2, 2]
    assert (weights[0, 3:] == 0).all() and (weights[0, :3] > 0).all()
    assert int(rows[1:].min()) == 3 and int(rows[1:].max()) == 12      # the second clip's windows stay inside it
    with pytest.raises(ValueError):
        plan_windows([0], 8, 4)


def test_one_window_clip_matches_the_network_and_clips_do_not_mix() -> None:
    torch.manual_seed(0)
    model = MotionDenoiser(SMALL).eval()
    z = torch.randn(8, 144)
    cond = torch.randn(8, SMALL.cond_dim)
    wrapped = WindowedPrior(model, [8])
    with torch.no_grad():
        assert torch.allclose(wrapped(z, 3, cond), model(z[None], 3, cond[None])[0], atol=1e-5)
        two = WindowedPrior(model, [8, 8])(torch.cat([z, torch.randn(8, 144)]), 3, None)
        assert torch.allclose(two[:8], wrapped(z, 3, None), atol=1e-5)


def test_long_clips_get_a_finite_blend_and_per_row_timesteps() -> None:
    torch.manual_seed(0)
    model = MotionDenoiser(SMALL).eval()
    wrapped = WindowedPrior(model, [37, 5])
    z = torch.randn(42, 144)
    with torch.no_grad():
        eps = wrapped(z, torch.full((42,), 7), torch.randn(42, SMALL.cond_dim), torch.rand(42) > 0.5)
    assert eps.shape == (42, 144) and bool(torch.isfinite(eps).all())
    with pytest.raises(ValueError, match="42 frames"):
        wrapped(torch.zeros(41, 144), 0)
    assert torch.equal(wrapped.normalize(z), model.normalize(z)) and wrapped.x_std is model.x_std
