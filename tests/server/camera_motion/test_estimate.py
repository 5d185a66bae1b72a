"""The camera's rotation from the background: exact pieces (rays -> rotation), and the whole estimate on
synthetic footage with a known rotation (a textured scene seen by a turning camera, a "person" moving across it)."""
from __future__ import annotations

from typing import List, Tuple

import cv2
import numpy as np
import pytest

from server.body.rotations import euler_to_rotmat, nearest_rotation
from server.camera_motion.estimate import MotionCheck, camera_moves, estimate_rotations, sampled_frames
from server.camera_motion.matching import (Matches, MotionConfig, bearings, parallax_rotation, rotation_angle,
                                           rotation_from_rays, sized, two_ray_rotations)
from server.camera_motion.virtual import (camera_path, intrinsics, textured_wall, virtual_view, walking_positions,
                                          warp_frame, warp_layers)

WIDTH, HEIGHT = 960, 540


def scene(seed: int = 0) -> np.ndarray:
    """(H, W, 3) a wide textured background (corners for ORB)."""
    return textured_wall(WIDTH, HEIGHT, seed)


def footage(kind: str, frames: int, degrees: float, person: bool = False,
            share: Tuple[float, float] = (0.3, 0.7)) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
    """(frames, true rotations (N, 3, 3), K of the virtual camera): the scene seen by a camera turning along
    ``kind``; ``person``: a textured block ``share`` (width, height) of the view walks across it."""
    background = scene()
    k_in, k_out, size = virtual_view(WIDTH, HEIGHT, 0.8)
    rotations = camera_path(kind, frames, degrees)
    out = []
    walker = scene(seed=1)[:int(size[1] * share[1]), :int(size[0] * share[0])]
    for t, rotation in enumerate(rotations):
        frame = warp_frame(background, rotation, k_in, k_out, size)
        if person:   # the person moves in the image, not with the scene
            x = int(t / frames * (size[0] - walker.shape[1]))
            frame[size[1] - walker.shape[0]:, x:x + walker.shape[1]] = walker
        out.append(frame)
    return out, rotations, k_out


def test_rays_give_the_exact_rotation() -> None:
    rng = np.random.default_rng(0)
    truth = euler_to_rotmat(np.radians([3.0, -12.0, 5.0]), "xyz")
    k = intrinsics(WIDTH, HEIGHT, 1000.0)
    points = rng.uniform([0, 0], [WIDTH, HEIGHT], (50, 2))
    rays_a = bearings(points, k)
    rays_b = rays_a @ truth.T
    assert rotation_angle(rotation_from_rays(rays_a, rays_b), truth) < 1e-6
    noisy = truth + rng.normal(0, 0.01, (3, 3))
    nearest = nearest_rotation(noisy)
    assert np.allclose(nearest @ nearest.T, np.eye(3), atol=1e-9) and np.linalg.det(nearest) > 0


def test_two_matches_give_the_exact_rotation_or_none() -> None:
    """The RANSAC hypothesis from two rays (TRIAD) is exact on noise-free rays; parallel rays give no rotation."""
    rng = np.random.default_rng(1)
    truth = euler_to_rotmat(np.radians([[2.0, 30.0, -4.0], [-10.0, 1.0, 7.0]]), "xyz")
    a1, a2 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    a1, a2 = a1 / np.linalg.norm(a1, axis=1, keepdims=True), a2 / np.linalg.norm(a2, axis=1, keepdims=True)
    found = two_ray_rotations(a1, a2, np.einsum("nij,nj->ni", truth, a1), np.einsum("nij,nj->ni", truth, a2))
    assert np.allclose(found, truth, atol=1e-9)
    assert np.isnan(two_ray_rotations(a1[:1], a1[:1], a1[:1], a1[:1])).all()


def walking_scene_matches(metres: float, seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pixels in a, pixels in b, K, true R_ab): points 2-30 m away seen by a camera that turns 3 degrees and walks
    ``metres`` sideways between a and b (half a pixel of noise)."""
    rng = np.random.default_rng(seed)
    k = intrinsics(WIDTH, HEIGHT, 1000.0)
    pixels = rng.uniform([0, 0], [WIDTH, HEIGHT], (300, 2))
    points = bearings(pixels, k) * rng.uniform(2.0, 30.0, (300, 1))
    truth = euler_to_rotmat(np.radians([0.5, 3.0, 0.0]), "xyz")
    seen = (points - np.array([metres, 0.0, 0.0])) @ truth.T @ k.T
    return pixels, seen[:, :2] / seen[:, 2:] + rng.normal(0.0, 0.5, (300, 2)), k, truth


def test_an_essential_matrix_gives_a_walking_cameras_rotation() -> None:
    """Near and far points slide apart when the camera walks: no one rotation fits them, the essential matrix's
    does; for a camera that only turns it is not trusted (degenerate: any translation fits)."""
    config = sized(MotionConfig(), intrinsics(WIDTH, HEIGHT, 1000.0))
    src, dst, k, truth = walking_scene_matches(0.3)
    moved = parallax_rotation(Matches.of(src, dst, k), k, config, beaten=100)
    assert moved is not None and moved.moved and rotation_angle(moved.rotation, truth) < 0.3
    assert rotation_angle(rotation_from_rays(bearings(src, k), bearings(dst, k)), truth) > 1.0   # one turn: off
    src, dst, k, truth = walking_scene_matches(0.0)
    assert parallax_rotation(Matches.of(src, dst, k), k, config, beaten=100) is None


def walking_footage(metres: float, frames: int = 64) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
    """(frames, true rotations, K): a textured wall 8 m away, a near object (the lower 45% of the view) 2 m away,
    seen by a camera that pans 10 degrees while it walks ``metres`` to its right."""
    near = np.zeros((HEIGHT, WIDTH), np.uint8)
    near[int(HEIGHT * 0.55):] = 255
    k_in, k_out, size = virtual_view(WIDTH, HEIGHT, 0.8)
    rotations = camera_path("pan", frames, 10.0)
    positions = walking_positions(frames, metres)
    layers = [(scene(0), None, 8.0), (scene(2), near, 2.0)]
    return [warp_layers(layers, r, c, k_in, k_out, size) for r, c in zip(rotations, positions)], rotations, k_out


def test_a_walking_camera_is_followed_through_the_essential_matrix() -> None:
    """A camera that walks 0.6 m while it pans: taken for one that only turns, the walk adds degrees of turn;
    the essential matrix, against the first frame, keeps the rotation true."""
    frames, truth, k = walking_footage(0.6)
    motion = estimate_rotations(enumerate(frames), len(frames), k)
    error = rotation_angle(motion.rotations, truth)
    turn_only = estimate_rotations(enumerate(frames), len(frames), k, config=MotionConfig(parallax_share=0.0))
    assert error.mean() < 0.5 and error[-1] < 1.0, (error.mean(), error.max(), error[-1])
    assert rotation_angle(turn_only.rotations, truth).mean() > 1.5


def test_layers_seen_from_where_the_camera_stood_are_the_turned_frame() -> None:
    """warp_layers at the first camera's place is warp_frame (a pure turn); walking, the near layer slides
    across the far one."""
    image = scene(0)
    k_in, k_out, size = virtual_view(WIDTH, HEIGHT, 0.8)
    turn = euler_to_rotmat(np.radians([0.0, 4.0, 0.0]), "xyz")
    still = warp_layers([(image, None, 8.0)], turn, np.zeros(3), k_in, k_out, size)
    assert np.array_equal(still, warp_frame(image, turn, k_in, k_out, size))
    near = np.zeros((HEIGHT, WIDTH), np.uint8)
    near[:, 300:500] = 255
    marker = np.full((HEIGHT, WIDTH, 3), (1, 2, 3), np.uint8)     # the near layer, a colour the wall does not have
    for metres in (0.0, 0.1):
        walked = warp_layers([(image, None, 8.0), (marker, near, 1.0)], np.eye(3), np.array([metres, 0.0, 0.0]),
                             k_in, k_out, size)
        columns = np.flatnonzero((walked == (1, 2, 3)).all(-1).any(0))
        # the layer's left edge: 300 px of the input less the crop's 96, less f * metres / depth = 96 px per 0.1 m
        assert columns.min() == pytest.approx(300 - 96 - 960 * metres, abs=1.5)


def test_camera_paths_start_still_and_turn_as_asked() -> None:
    for kind, degrees in [("pan", 20.0), ("tilt", 10.0), ("roll", 5.0), ("whip", 40.0)]:
        rotations = camera_path(kind, 60, degrees)
        assert np.allclose(rotations[0], np.eye(3)) and rotation_angle(rotations[-1], np.eye(3)) == \
            pytest.approx(degrees, abs=1e-6)
    assert np.allclose(camera_path("static", 10), np.eye(3))
    assert sampled_frames(20, 8) == [0, 8, 16, 19] and sampled_frames(17, 8) == [0, 8, 16]


@pytest.mark.parametrize("kind, degrees", [("static", 0.0), ("pan", 15.0), ("tilt", 10.0), ("roll", 8.0),
                                           ("shake", 6.0), ("whip", 30.0)])
def test_rotation_of_a_turning_camera(kind: str, degrees: float) -> None:
    frames, truth, k = footage(kind, 64, degrees)
    motion = estimate_rotations(enumerate(frames), len(frames), k)
    error = rotation_angle(motion.rotations, truth)
    assert error.mean() < 0.3 and error[-1] < 0.3, (error.mean(), error.max(), error[-1])
    assert motion.confidence.min() > 0.5 and motion.sampled[0] == 0 and motion.sampled[-1] == len(frames) - 1


@pytest.mark.parametrize("kind, degrees", [("static", 0.0), ("pan", 10.0), ("roll", 8.0)])
def test_a_rigid_mover_a_fifth_of_the_view_is_not_the_background(kind: str, degrees: float) -> None:
    """A textured block covering a fifth of the view walks across (a harder case than a person, whose features
    deform): its matches form their own consensus, which is not taken for the camera's turn."""
    frames, truth, k = footage(kind, 64, degrees, person=True)
    motion = estimate_rotations(enumerate(frames), len(frames), k)
    error = rotation_angle(motion.rotations, truth)
    assert error.mean() < 0.5 and error[-1] < 1.0, (error.mean(), error.max(), error[-1])


def test_a_box_keeps_the_person_out() -> None:
    """With the person's box given, no feature is taken on them."""
    frames, truth, k = footage("pan", 32, 10.0, person=True)
    boxes = [(0.0, 0.0, 1.0, 1.0)] * len(frames)
    motion = estimate_rotations(enumerate(frames), len(frames), k, boxes=boxes, config=MotionConfig(step=4))
    assert rotation_angle(motion.rotations, truth).mean() < 0.3


@pytest.mark.parametrize("kind, degrees", [("pan", 12.0), ("shake", 6.0)])
def test_a_person_covering_two_fifths_of_the_frame_with_their_box(kind: str, degrees: float) -> None:
    """A person (a textured block) covering 40% of the frame walks across; their box, as the detector gives it,
    is masked out: the rotation stays true."""
    frames, truth, k = footage(kind, 64, degrees, person=True, share=(0.5, 0.8))
    height, width = frames[0].shape[:2]
    block = (int(width * 0.5), int(height * 0.8))
    boxes = [(t / 64 * (width - block[0]), height - block[1], t / 64 * (width - block[0]) + block[0], height)
             for t in range(64)]
    motion = estimate_rotations(enumerate(frames), len(frames), k, boxes=boxes)
    error = rotation_angle(motion.rotations, truth)
    assert error.mean() < 0.5 and error[-1] < 1.0, (error.mean(), error.max(), error[-1])


def test_textureless_footage_has_no_confidence_and_no_spin() -> None:
    """A white wall: no rotation can be found, so none is made up (identity held, confidence 0)."""
    frames = [np.full((HEIGHT, WIDTH, 3), 230, np.uint8) for _ in range(20)]
    motion = estimate_rotations(enumerate(frames), len(frames), intrinsics(WIDTH, HEIGHT, 1000.0))
    assert np.allclose(motion.rotations, np.eye(3)) and motion.confidence[1:].max() == 0.0


def test_a_moving_clip_is_written_from_a_static_one(tmp_path) -> None:
    """write_moving_clip: the static clip's frames through the virtual camera, the true rotations returned."""
    from server.camera_motion.virtual import write_moving_clip
    source, output = str(tmp_path / "static.mp4"), str(tmp_path / "moving.mp4")
    writer = cv2.VideoWriter(source, cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (WIDTH, HEIGHT))
    for _ in range(12):
        writer.write(scene())
    writer.release()
    rotations = write_moving_clip(source, output, "pan", 6.0, frames=10)
    capture = cv2.VideoCapture(output)
    count, size = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), (capture.get(cv2.CAP_PROP_FRAME_WIDTH),
                                                              capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    assert rotations.shape == (10, 3, 3) and count == 10 and size == virtual_view(WIDTH, HEIGHT, 0.8)[2]
    assert rotation_angle(rotations[-1], np.eye(3)) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="is the input"):
        write_moving_clip(source, source, "pan")
    assert int(cv2.VideoCapture(source).get(cv2.CAP_PROP_FRAME_COUNT)) == 12      # the input untouched
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="cannot read"):
        write_moving_clip(str(tmp_path / "broken.mp4"), str(tmp_path / "out.mp4"), "pan")
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("kind, degrees, moves", [("static", 0.0, False), ("pan", 6.0, True), ("shake", 3.0, True)])
def test_the_cheap_check_tells_a_still_camera_from_a_moving_one(kind: str, degrees: float, moves: bool) -> None:
    frames, truth, k = footage(kind, 64, degrees, person=True)
    looked: List[int] = []

    def frame_at(index: int) -> np.ndarray:
        looked.append(index)
        return frames[index]

    check = camera_moves(frame_at, len(frames), k)
    assert check.moves is moves and len(looked) == 5 and looked[0] == 0 and looked[-1] == len(frames) - 1
    assert (check.degrees > 0.25) if moves else (check.degrees < 0.1 and check.confidence > 0.3)


def test_the_cheap_check_on_a_bare_wall_says_still_with_no_confidence() -> None:
    blank = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    check = camera_moves(lambda index: blank, 30, intrinsics(WIDTH, HEIGHT, 1000.0))
    assert check == MotionCheck(moves=False, degrees=0.0, confidence=0.0)
