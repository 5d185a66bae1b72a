"""Confidence-weighted DLT triangulation: exact without noise, missing views, the robust outlier drop."""
from __future__ import annotations

import numpy as np
import pytest

from server.fitting.triangulate import triangulate
from tests.server.camera_samples import body_points, observe, ring


def test_noiseless_points_come_back_exactly() -> None:
    cameras = ring(4)
    points = body_points(6)
    uv = observe(cameras, points)
    conf = np.random.default_rng(1).uniform(0.5, 1.0, uv.shape[:-1])
    tri = triangulate(uv, conf, cameras)
    assert np.abs(tri.points - points).max() < 1e-6
    assert np.nanmax(tri.residual_px) < 1e-4 and tri.used.all()


def test_a_missing_view_and_a_point_seen_once() -> None:
    cameras = ring(3)
    points = body_points(2, 4)
    uv = observe(cameras, points)
    conf = np.ones(uv.shape[:-1])
    uv[0, 0, 0] = np.nan                 # view 0 lost landmark 0 of frame 0
    conf[1, 0, 1] = 0.4                  # view 1 below the threshold for landmark 1
    conf[1:, 1, 2] = 0.0                 # landmark 2 of frame 1 seen by view 0 only
    tri = triangulate(uv, conf, cameras)
    assert np.abs(tri.points[0, :2] - points[0, :2]).max() < 1e-6
    assert not tri.used[0, 0, 0] and not tri.used[1, 0, 1] and tri.used[:, 0, 3].all()
    assert np.isnan(tri.points[1, 2]).all() and not tri.used[:, 1, 2].any()
    assert np.isnan(tri.residual_px[0, 0, 0]) and tri.residual_px[1, 0, 1] < 1e-4   # unused but reprojected


def test_the_worst_view_is_dropped_when_enough_remain() -> None:
    cameras = ring(4)
    points = body_points(1, 3)
    uv = observe(cameras, points)
    uv[2, 0, 0] += [80.0, -60.0]         # a 100 px outlier in view 2
    tri = triangulate(uv, np.ones(uv.shape[:-1]), cameras)
    assert tri.used[:, 0, 0].tolist() == [True, True, False, True]
    assert np.abs(tri.points[0, 0] - points[0, 0]).max() < 1e-6
    assert abs(tri.residual_px[2, 0, 0] - 100.0) < 1e-3
    pair = triangulate(uv[1:3], np.ones((2, 1, 3)), cameras[1:3])    # two views: nothing to drop
    assert pair.used.all() and np.abs(pair.points[0, 0] - points[0, 0]).max() > 1e-3


def test_mismatched_shapes_are_rejected() -> None:
    cameras = ring(2)
    with pytest.raises(ValueError, match="do not match"):
        triangulate(np.zeros((3, 1, 2, 2)), np.ones((3, 1, 2)), cameras)
