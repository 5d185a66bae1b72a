"""DDIM sampling and inversion with an exact denoiser for a one-point data distribution."""
from __future__ import annotations

import torch

from server.diffusion.sampler import ddim_invert, ddim_sample, ddim_step
from server.diffusion.schedule import cosine_alphas_cumprod, q_sample

AC = cosine_alphas_cumprod(1000, dtype=torch.float64)
TARGET = torch.linspace(-1, 1, 144, dtype=torch.float64)[None]


def exact_eps(x_t: torch.Tensor, t: int) -> torch.Tensor:
    """The true noise if every clean sample were TARGET."""
    a = AC[t] if t >= 0 else torch.tensor(1.0, dtype=torch.float64)
    return (x_t - a.sqrt() * TARGET) / (1 - a).sqrt()


def test_sampling_from_noise_reaches_the_data() -> None:
    x_start = torch.randn(4, 144, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = ddim_sample(exact_eps, x_start, 1000, 20, AC)
    assert torch.allclose(out, TARGET.expand(4, -1), atol=1e-6)


def test_inversion_then_sampling_returns_the_start() -> None:
    x0 = TARGET.expand(3, -1).clone()
    noisy = ddim_invert(exact_eps, x0, 50, 2, AC)
    assert not torch.allclose(noisy, x0, atol=1e-3)
    expected = q_sample(x0, 48, exact_eps(noisy, 48), AC)
    assert torch.allclose(noisy, expected, atol=1e-6), "inversion lands on the forward process at t*"
    assert torch.allclose(ddim_sample(exact_eps, noisy, 50, 2, AC), x0, atol=1e-6)


def test_one_step_returns_the_clean_estimate() -> None:
    noise = torch.randn(2, 144, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x_t = q_sample(TARGET.expand(2, -1), 300, noise, AC)
    x_next, x0_hat, eps = ddim_step(exact_eps(x_t, 300), x_t, 300, 280, AC)
    assert torch.allclose(x0_hat, TARGET.expand(2, -1), atol=1e-8) and torch.allclose(eps, noise, atol=1e-8)
    assert torch.allclose(x_next, q_sample(TARGET.expand(2, -1), 280, noise, AC), atol=1e-8)


def test_clip_bounds_the_clean_estimate() -> None:
    def wild_eps(x_t: torch.Tensor, t: int) -> torch.Tensor:
        return torch.full_like(x_t, -50.0)          # a badly wrong prediction at high noise

    x_t = torch.zeros(2, 144, dtype=torch.float64)
    _, x0_free, _ = ddim_step(wild_eps(x_t, 980), x_t, 980, 960, AC)
    _, x0_clip, eps = ddim_step(wild_eps(x_t, 980), x_t, 980, 960, AC, clip=5.0)
    assert x0_free.abs().max() > 100 and x0_clip.abs().max() <= 5.0
    assert torch.allclose(x_t, AC[980].sqrt() * x0_clip + (1 - AC[980]).sqrt() * eps), "eps stays consistent"


def test_move_and_guided_eps_are_the_step_s_parts() -> None:
    """ddim_move from the step's own clean and noise estimates is the step; guide_eps adds sqrt(1 - abar) x scale x
    the gradient, so a zero gradient changes nothing."""
    from server.diffusion.sampler import ddim_move, guide_eps
    g = torch.Generator().manual_seed(2)
    x_t = torch.randn(3, 144, dtype=torch.float64, generator=g)
    eps = exact_eps(x_t, 120)
    x_next, x0_hat, eps_out = ddim_step(eps, x_t, 120, 100, AC)
    assert torch.equal(ddim_move(x0_hat, eps_out, 100, AC), x_next)
    assert torch.allclose(ddim_move(TARGET.expand(3, -1), eps, -1, AC), TARGET.expand(3, -1))
    grad = torch.randn(3, 144, dtype=torch.float64, generator=g)
    assert torch.equal(guide_eps(eps, torch.zeros_like(grad), 120, AC, 7.0), eps)
    assert torch.allclose(guide_eps(eps, grad, 120, AC, 0.5) - eps, (1 - AC[120]).sqrt() * 0.5 * grad)
