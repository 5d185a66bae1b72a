"""The capture of hand-held footage on real frames: the sample clip seen by a virtual camera that pans with a KNOWN
rotation. The camera's rotation is stored, the body stays where the still camera's capture put it (first frame's
world), a still clip is checked and left alone, and a cut is refused naming its frame."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from server.body.rotations import rotvec_to_rotmat
from server.camera_motion.matching import rotation_angle
from server.camera_motion.virtual import virtual_view, write_moving_clip
from server.errors import JobError
from server.jobs.capture import CaptureRequest, run_capture
from server.options import CaptureOptions

pytestmark = pytest.mark.slow   # real captures
FRAMES = 130   # two detector chunks (each at least 60 frames): the pieces are joined


def _followed(captured: dict, truth: np.ndarray, width: int, height: int) -> tuple:
    """The still capture's person as the turning camera sees it ([frame, x0, y0, x1, y1] rows), so both captures
    follow the same person (the sample shows two)."""
    k_in, k_out, _ = virtual_view(width, height, 1.0)
    rows = []
    data = captured["data"]
    for frame, points in zip(data["frame_indices"], data["keypoints_2d"]):
        if frame >= FRAMES:
            break
        (x0, y0), (x1, y1) = points[:, :2].min(0), points[:, :2].max(0)
        corners = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x0, y1, 1.0], [x1, y1, 1.0]])
        seen = corners @ (k_out @ truth[frame] @ np.linalg.inv(k_in)).T
        uv = seen[:, :2] / seen[:, 2:]
        rows.append((float(frame), *uv.min(0).tolist(), *uv.max(0).tolist()))
    return tuple(rows)


@pytest.fixture(scope="module")
def panned(sample_video: Path, captured: dict, tmp_path_factory) -> dict:
    """The sample's first frames seen by a camera panning 15 degrees (the person crosses the view), captured with
    Camera: Auto."""
    folder = tmp_path_factory.mktemp("panned")
    clip = folder / "pan.mp4"
    truth = write_moving_clip(str(sample_video), str(clip), "pan", 15.0, crop=1.0, frames=FRAMES)
    width, height = (int(v) for v in captured["data"]["image_size"])
    stages: list = []
    summary = run_capture(CaptureRequest(video=str(clip), output=str(folder / "pan.npz"),
                                         person_boxes=_followed(captured, truth, width, height)),
                          lambda stage, done, total, msg: stages.append((stage, msg)), lambda: False)
    with np.load(folder / "pan.npz", allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return {"data": arrays, "truth": truth, "summary": summary, "stages": stages}


def test_a_still_clip_is_checked_and_left_alone(captured: dict) -> None:
    assert ("camera", "the camera stands still") in captured["messages"]
    assert "camera_rotation" not in captured["data"] and "camera_confidence" not in captured["data"]
    assert 0.0 < captured["summary"].timings["camera"] < 5.0 and "camera_chain" not in captured["summary"].timings


def test_the_camera_turn_is_stored_and_true(panned: dict) -> None:
    data, truth = panned["data"], panned["truth"]
    rotation, confidence = data["camera_rotation"], data["camera_confidence"]
    frames = data["frame_indices"]
    assert rotation.shape == (len(frames), 3, 3) and confidence.shape == (len(frames),)
    error = rotation_angle(rotation.astype(np.float64), truth[frames])
    assert error.mean() < 0.3 and error.max() < 1.0, (error.mean(), error.max())
    assert confidence.min() > 0.3
    assert any(stage == "camera" and "turned up to 15 degrees" in msg for stage, msg in panned["stages"])


def test_the_body_stays_in_the_first_frames_world(panned: dict, captured: dict) -> None:
    """Against the still camera's capture of the same frames: the pelvis moves as it did (median within 15 cm after
    the first shared frame) and the root faces as it did (median within 8 degrees; two captures of the same frames
    written again differ by 5 cm and 3 degrees), where taking the camera for still would turn it by up to 15."""
    moving, still = panned["data"], captured["data"]
    rows = {int(f): i for i, f in enumerate(still["frame_indices"])}
    shared = [(i, rows[int(f)]) for i, f in enumerate(moving["frame_indices"]) if int(f) in rows]
    assert len(shared) > 0.8 * FRAMES
    mine, theirs = np.array([s[0] for s in shared]), np.array([s[1] for s in shared])
    pelvis = moving["transl"][mine] + moving["joints_rest"][0]
    reference = still["transl"][theirs] + still["joints_rest"][0]
    drift = np.linalg.norm((pelvis - pelvis[0]) - (reference - reference[0]), axis=1)
    assert np.median(drift) < 0.15, np.median(drift)
    facing = rotation_angle(rotvec_to_rotmat(moving["poses"][mine, 0].astype(np.float64)),
                            rotvec_to_rotmat(still["poses"][theirs, 0].astype(np.float64)))
    assert np.median(facing) < 8.0, np.median(facing)


def test_a_cut_is_refused_naming_its_frame(sample_video: Path, tmp_path: Path) -> None:
    """The sample's first 40 frames, then a cut to the same footage mirrored (nothing in it matches the frames
    before): Camera: Moving stops with camera_lost, naming the first sampled frame after the cut; nothing is
    written."""
    capture = cv2.VideoCapture(str(sample_video))
    frames = [capture.read()[1] for _ in range(64)]
    capture.release()
    clip = tmp_path / "cut.mp4"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (width, height))
    for index, frame in enumerate(frames):
        writer.write(frame if index < 40 else np.ascontiguousarray(frame[:, ::-1]))
    writer.release()
    with pytest.raises(JobError) as raised:
        run_capture(CaptureRequest(video=str(clip), output=str(tmp_path / "cut.npz"),
                                   options=CaptureOptions(camera="moving", place=False)),
                    lambda *a: None, lambda: False)
    assert raised.value.code == "camera_lost" and "frame 41 " in raised.value.message
    assert "Static" in raised.value.hint and not (tmp_path / "cut.npz").exists()


def test_auto_on_a_still_clip_is_bit_identical_to_static(sample_video: Path, tmp_path: Path) -> None:
    """Camera: Auto on the still sample costs the cheap check and nothing else: the result file's arrays are the
    same bits as with Camera: Static."""
    out = {}
    for mode in ("static", "auto"):
        path = tmp_path / f"{mode}.npz"
        run_capture(CaptureRequest(video=str(sample_video), output=str(path), end=40,
                                   options=CaptureOptions(camera=mode)), lambda *a: None, lambda: False)
        with np.load(path, allow_pickle=False) as data:
            out[mode] = {key: data[key] for key in data.files}
    assert out["static"].keys() == out["auto"].keys()
    for key, value in out["static"].items():
        assert np.array_equal(value, out["auto"][key]), key
