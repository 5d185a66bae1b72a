"""Fitting losses: robust keypoint term, its weighting and scale, temporal and cross-view terms."""
from __future__ import annotations

import torch

from server.fitting.losses import gmof, keypoint_loss, multiview_loss, reprojection_error, temporal_loss


def test_gmof_is_quadratic_near_zero_and_bounded() -> None:
    r2 = torch.tensor([1e-4, 1.0, 1e8])
    out = gmof(r2, 100.0)
    torch.testing.assert_close(out[:2], r2[:2], rtol=1e-3, atol=0.0)
    assert out[2] < 100.0 ** 2 and out[2] > 0.99 * 100.0 ** 2


def test_keypoint_loss_weights_and_resolution() -> None:
    kp = torch.zeros(2, 33, 3)
    kp[..., 2] = 1.0
    kp[1, :, 2] = 0.5                                   # half the confidence: a quarter of the loss
    pred = torch.full((2, 33, 2), 3.0)
    size = torch.tensor([[1000.0, 500.0], [1000.0, 500.0]])
    loss = keypoint_loss(pred, kp, size)
    torch.testing.assert_close(loss[1], 0.25 * loss[0])
    big = keypoint_loss(pred * 2, torch.cat([kp[..., :2] * 2, kp[..., 2:]], -1), size * 2)
    torch.testing.assert_close(big, loss)               # the same fit at twice the resolution costs the same
    mask = torch.zeros(33, dtype=torch.bool)
    assert keypoint_loss(pred, kp, size, mask=mask).abs().max() == 0.0


def test_reprojection_error_ignores_unsure_landmarks() -> None:
    kp = torch.zeros(1, 33, 3)
    kp[0, :10, 2] = 0.9
    pred = torch.zeros(1, 33, 2)
    pred[0, :10, 0] = 4.0
    pred[0, 10:, 0] = 1000.0
    assert float(reprojection_error(pred, kp)) == 4.0


def test_temporal_and_multiview_terms() -> None:
    x = torch.tensor([[0.0], [1.0], [3.0]])
    assert temporal_loss(x).tolist() == [0.0, 1.0, 4.0]
    body = torch.tensor([[[1.0, 0.0]], [[3.0, 0.0]]])   # two views of one frame
    assert multiview_loss(body).tolist() == [[1.0], [1.0]]
