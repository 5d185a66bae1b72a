"""Pinhole helpers: projection, the regressor's box camera and the closed-form translation."""
from __future__ import annotations

import torch

from server.fitting.camera import box_camera_to_position, fit_translation, position_to_box_camera, project


def test_project_pinhole() -> None:
    points = torch.tensor([[[0.0, 0.0, 2.0], [1.0, -0.5, 4.0]]])
    uv = project(points, torch.tensor([1000.0]), torch.tensor([[320.0, 240.0]]))
    torch.testing.assert_close(uv, torch.tensor([[[320.0, 240.0], [570.0, 115.0]]]))


def test_box_camera_round_trip() -> None:
    g = torch.Generator().manual_seed(0)
    position = torch.rand(64, 3, generator=g) * torch.tensor([2.0, 2.0, 8.0]) + torch.tensor([-1.0, -1.0, 1.5])
    box = torch.cat([torch.rand(64, 2, generator=g) * 800 + 100, torch.rand(64, 1, generator=g) * 300 + 20], -1)
    focal, centre = torch.full((64,), 1200.0), torch.tensor([[480.0, 270.0]]).expand(64, 2)
    back = box_camera_to_position(position_to_box_camera(position, box, focal, centre), box, focal, centre)
    torch.testing.assert_close(back, position, rtol=1e-4, atol=1e-4)


def test_fit_translation_recovers_the_camera() -> None:
    g = torch.Generator().manual_seed(1)
    body = torch.randn(5, 33, 3, generator=g) * 0.4                         # posed, rotated, not translated
    transl = torch.tensor([[0.3, -0.2, 5.0], [0.0, 0.0, 3.0], [-1.0, 0.5, 8.0], [0.2, 0.1, 2.5], [0.0, 1.0, 6.0]])
    focal, centre = torch.full((5,), 1000.0), torch.tensor([[640.0, 360.0]]).expand(5, 2)
    uv = project(body + transl[:, None], focal, centre)
    conf = torch.ones(5, 33, 1)
    conf[1, 3:] = 0.0                                                         # frame 1: only 3 landmarks
    conf[4, 2:] = 0.0                                                         # frame 4: too few to solve
    t, ok = fit_translation(body, torch.cat([uv, conf], -1), focal, centre)
    assert ok.tolist() == [True, True, True, True, False]
    torch.testing.assert_close(t[ok], transl[ok], rtol=1e-3, atol=1e-3)
