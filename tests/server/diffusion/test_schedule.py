"""The cosine schedule and its pure functions."""
from __future__ import annotations

import torch

from server.diffusion.schedule import (alpha_bar, cosine_alphas_cumprod, ddim_coefficients, ddim_timesteps,
                                       predict_eps, predict_x0, q_sample)


def test_alphas_cumprod_monotone_in_range() -> None:
    ac = cosine_alphas_cumprod(1000)
    assert ac.shape == (1000,)
    assert torch.all(ac[1:] < ac[:-1])
    assert 0.999 < float(ac[0]) < 1.0 and 0.0 < float(ac[-1]) < 1e-3


def test_q_sample_and_predict_x0_are_inverse() -> None:
    g = torch.Generator().manual_seed(0)
    ac = cosine_alphas_cumprod(1000)
    x0, noise = torch.randn(16, 144, generator=g), torch.randn(16, 144, generator=g)
    t = torch.randint(0, 1000, (16,), generator=g)
    x_t = q_sample(x0, t, noise, ac)
    assert torch.allclose(predict_x0(x_t, t, noise, ac), x0, atol=2e-3)
    assert torch.allclose(predict_eps(x_t, t, x0, ac), noise, atol=1e-3)


def test_clean_end_and_scalar_timesteps() -> None:
    ac = cosine_alphas_cumprod(1000)
    x = torch.zeros(3, 144)
    assert torch.all(alpha_bar(ac, -1, x) == 1.0) and alpha_bar(ac, 5, x).shape == (3, 1)


def test_ddim_step_with_exact_eps_lands_on_the_next_marginal() -> None:
    """With the true noise, a deterministic DDIM step from t to t' gives exactly q_sample(x0, t', same noise),
    in both directions (sampling and inversion)."""
    g = torch.Generator().manual_seed(1)
    ac = cosine_alphas_cumprod(1000)
    x0, eps = torch.randn(4, 144, generator=g), torch.randn(4, 144, generator=g)
    for t, t_next in ((48, 46), (46, 48), (0, -1)):
        x_t = q_sample(x0, t, eps, ac)
        c_x0, c_eps, sigma = ddim_coefficients(ac, t, t_next, x_t)
        x_next = c_x0 * predict_x0(x_t, t, eps, ac) + c_eps * eps
        expected = x0 if t_next < 0 else q_sample(x0, t_next, eps, ac)
        assert torch.all(sigma == 0) and torch.allclose(x_next, expected, atol=1e-4)


def test_ddim_stochastic_sigma_and_timesteps() -> None:
    ac = cosine_alphas_cumprod(1000)
    _, c_eps, sigma = ddim_coefficients(ac, 500, 400, torch.zeros(2, 1), eta=1.0)
    a_next = float(ac[400])
    assert torch.all(sigma > 0) and torch.allclose(c_eps ** 2 + sigma ** 2, torch.full_like(sigma, 1 - a_next))
    steps = ddim_timesteps(50, 2)
    assert len(steps) == 25 and steps[0] == 48 and steps[-1] == 0
