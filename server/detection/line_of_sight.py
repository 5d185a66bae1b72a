"""BlazePose's metric world landmarks turned from the detector's line of sight onto the camera's axes (numpy).

BlazePose reads its world landmarks off a crop around the person, as a camera looking straight at that crop would see
them: their axes follow the ray from the camera through the person, not the camera's own axes. A person standing
20 degrees off the centre of the view and facing the camera's forward axis is reported turned by about 20 degrees
(measured on a virtual pan of the Sports2D clip: the captured root turned 13 degrees in camera axes where the truth
turned 20). The fitting, the regressors (trained on camera-oriented landmarks) and the place stage (the body's up)
all read them in camera axes, so each frame's landmarks are turned by the rotation that takes the camera's forward
axis onto the ray through the hips' midpoint (the crop's centre), as CLIFF does for a crop's estimate.
"""
from __future__ import annotations

import numpy as np

from ..body.layout import LANDMARK_INDEX
from ..body.rotations import rotation_between_vectors

HIPS = (LANDMARK_INDEX["left_hip"], LANDMARK_INDEX["right_hip"])


def ray_rotations(pixels: np.ndarray, focal: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Pixels (N, 2), focal (N,) pixels, principal point (N, 2) -> (N, 3, 3) the smallest rotation taking the
    camera's forward axis (0, 0, 1) onto the ray through each pixel."""
    rays = np.concatenate([(pixels - centre) / focal[:, None], np.ones((len(pixels), 1))], axis=1)
    return rotation_between_vectors(np.array([0.0, 0.0, 1.0]), rays)


def world_in_camera_axes(world: np.ndarray, keypoints: np.ndarray, focal: np.ndarray,
                         centre: np.ndarray) -> np.ndarray:
    """World landmarks (N, 33, C >= 3; metres, the detector's line-of-sight axes; further channels kept) and image
    keypoints (N, 33, >= 2) pixels of the same frames, focal (N,), centre (N, 2) -> the landmarks in the camera's
    axes (same shape and dtype). A frame whose landmarks are all zero (no detection) stays zero."""
    hips = 0.5 * (keypoints[:, HIPS[0], :2] + keypoints[:, HIPS[1], :2]).astype(np.float64)
    turn = ray_rotations(hips, np.asarray(focal, np.float64), np.asarray(centre, np.float64))
    out = np.array(world, copy=True)
    out[..., :3] = np.einsum("nab,nlb->nla", turn, np.asarray(world[..., :3], np.float64)).astype(out.dtype)
    return out
