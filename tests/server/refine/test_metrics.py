"""Accuracy metrics: known offsets, invariances of the Procrustes alignment, acceleration of smooth motion."""
from __future__ import annotations

import torch

from server.refine.metrics import accel_error, acceleration, mpjpe, pa_mpjpe, procrustes_align


def _joints(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 24, 3, generator=torch.Generator().manual_seed(seed)) * 0.3


def _rotation(seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed)))
    return q * torch.sign(torch.linalg.det(q))


def test_mpjpe_of_a_known_offset_in_mm() -> None:
    gt = _joints()
    moved = gt + torch.tensor([0.5, -2.0, 3.0])                      # a global shift: removed by the pelvis
    assert torch.allclose(mpjpe(moved, gt), torch.zeros(6), atol=1e-3)
    offset = gt.clone()
    offset[:, 1:] += torch.tensor([0.0, 0.03, 0.04])                  # 50 mm on every joint but the pelvis
    assert torch.allclose(mpjpe(offset, gt), torch.full((6,), 50.0 * 23 / 24), atol=1e-2)


def test_pa_mpjpe_is_zero_for_a_similar_copy_and_invariant_to_it() -> None:
    gt, pred = _joints(seed=1), _joints(seed=2)
    r = _rotation(3)
    copy = 1.7 * gt @ r.T + torch.tensor([1.0, 2.0, 3.0])
    assert float(pa_mpjpe(copy, gt).max()) < 1e-3
    transformed = 0.6 * pred @ _rotation(4).T - 2.0
    assert torch.allclose(pa_mpjpe(transformed, gt), pa_mpjpe(pred, gt), atol=1e-3)
    assert float(pa_mpjpe(pred, gt).min()) > 1.0
    assert float(pa_mpjpe(pred, gt).max()) <= float(mpjpe(pred, gt).max()) + 1e-3


def test_procrustes_never_reflects() -> None:
    gt = _joints(seed=5)
    mirrored = gt * torch.tensor([-1.0, 1.0, 1.0])
    aligned = procrustes_align(mirrored, gt)
    centred = aligned - aligned.mean(1, keepdim=True)
    ref = mirrored - mirrored.mean(1, keepdim=True)
    # a proper rotation (+ scale) keeps the handedness: the triple product of three joints keeps its sign
    def triple(p: torch.Tensor) -> torch.Tensor:
        return torch.linalg.det(torch.stack([p[:, 1], p[:, 2], p[:, 3]], 1))
    assert torch.all(torch.sign(triple(centred)) == torch.sign(triple(ref)))


def test_accel_error_is_zero_for_constant_velocity_and_measures_jitter() -> None:
    base = _joints(1, seed=6)[0]
    velocity = torch.randn(24, 3, generator=torch.Generator().manual_seed(7)) * 0.01
    t = torch.arange(20, dtype=torch.float32)[:, None, None]
    gt = base + t * velocity
    assert accel_error(gt + 0.0, gt).shape == (18,)
    assert float(accel_error(base + t * 2 * velocity, gt).abs().max()) < 1e-3   # other constant velocity: 0
    jitter = gt.clone()
    jitter[10, 1:, 0] += 0.002                                        # one frame off by 2 mm (not the pelvis)
    err = accel_error(jitter, gt)
    assert abs(float(err[9]) - 2.0 * 2 * 23 / 24) < 1e-2 and abs(float(err[8]) - 2.0 * 23 / 24) < 1e-2
    assert float(acceleration(gt).max()) < 1e-3
