"""Several people in real footage: a composite made from the sample clip at test time (the clip on the left, a
mirrored copy on the right that appears at frame 60), listed, then one of them chosen for detection."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from server.jobs.capture import run_detect
from server.errors import JobError
from server.jobs.people import run_people

pytestmark = pytest.mark.slow   # the real worker on real footage

FRAMES, APPEARS, SCALE = 100, 60, 0.5


@pytest.fixture(scope="module")
def composite(sample_video: Path, tmp_path_factory) -> Path:
    """Half-size sample clip (884 x 497) left, its mirror image right from frame 60 (black before): 1768 x 497."""
    import cv2

    path = tmp_path_factory.mktemp("people") / "two_jumpers.mp4"
    source = cv2.VideoCapture(str(sample_video))
    writer = None
    try:
        for index in range(FRAMES):
            ok, bgr = source.read()
            assert ok
            half = cv2.resize(bgr, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
            right = half[:, ::-1] if index >= APPEARS else np.zeros_like(half)
            frame = np.ascontiguousarray(np.concatenate([half, right], axis=1))
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(frame)
    finally:
        source.release()
        if writer is not None:
            writer.release()
    return path


@pytest.fixture(scope="module")
def listing(composite: Path, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("listing") / "people.json"
    summary = run_people(str(composite), str(out), 0, -1, lambda *a: None, lambda: False)
    data = json.loads(out.read_text())
    assert summary.frames == len(data["tracks"])
    return data


def _side(track: dict, width: int) -> str:
    centre = (track["box"][0] + track["box"][2]) / 2
    return "left" if centre < width / 2 else "right"


def test_people_listed_with_their_spans(listing: dict) -> None:
    width, step = listing["width"], listing["step"]
    assert (listing["start"], listing["end"], listing["width"]) == (0, FRAMES, 1768)
    left = [t for t in listing["tracks"] if _side(t, width) == "left"]
    right = [t for t in listing["tracks"] if _side(t, width) == "right"]
    assert left and right, listing["tracks"]
    # The jumper on the roof is in the clip from its first frame; the mirrored copy from frame 60.
    assert min(t["first_frame"] for t in left) == 0
    assert all(APPEARS <= t["first_frame"] <= APPEARS + step for t in right)
    assert max(t["last_frame"] for t in right) >= FRAMES - step
    default = listing["tracks"][0]
    assert listing["default"] == default["id"] == 1 and _side(default, width) == "left"
    assert default["first_frame"] == 0 and default["last_frame"] >= FRAMES - step
    assert default["score"] == max(t["score"] for t in listing["tracks"])
    for track in listing["tracks"]:
        assert len(track["boxes"]) == track["frames_seen"] and 0 < track["seen"] <= 1
        assert all(len(row) == 5 and row[3] > row[1] and row[4] > row[2] for row in track["boxes"])


def test_detection_follows_the_chosen_person(composite: Path, listing: dict, tmp_path: Path) -> None:
    width = listing["width"]
    right = min((t for t in listing["tracks"] if _side(t, width) == "right"), key=lambda t: t["box"][1])  # the roof
    out = tmp_path / "keypoints.npz"
    run_detect([str(composite)], str(out), 50, 90, lambda *a: None, lambda: False, person=right["id"])
    with np.load(out, allow_pickle=False) as data:
        frames, points = data["frame_indices"], data["keypoints"].reshape(-1, len(data["frame_indices"]), 33, 3)[0]
    assert frames.min() >= APPEARS and len(frames) >= 0.8 * (90 - APPEARS), frames
    centres = points[..., 0].mean(axis=1)
    assert np.all(centres > width / 2), "every detection is on the right half"
    with pytest.raises(JobError, match="no person 9"):
        run_detect([str(composite)], str(tmp_path / "k.npz"), 50, 90, lambda *a: None, lambda: False, person=9)


def test_people_job_over_the_protocol(worker_python: str, composite: Path, tmp_path: Path) -> None:
    from server import protocol

    from ..worker_session import WorkerSession

    session = WorkerSession(worker_python)
    try:
        assert isinstance(session.read(), protocol.Ready)
        session.send(protocol.Submit(job_id="p", kind="people", video=str(composite), job_dir=str(tmp_path),
                                     start=0, end=70))
        messages = session.read_until_end("p")
    finally:
        session.close()
    result = messages[-1]
    assert isinstance(result, protocol.Result), result
    assert result.path == str(tmp_path / "people.json") and result.frames >= 2
    stages = {m.stage for m in messages if isinstance(m, protocol.Progress)}
    assert stages <= set(protocol.KIND_STAGES["people"]) and "search" in stages
    assert len(json.loads(Path(result.path).read_text())["tracks"]) == result.frames


def test_cli_people_table_and_a_missing_person(composite: Path, tmp_path: Path) -> None:
    from server.errors import EXIT_CODES

    from ..test_cli import _cli

    run = _cli("people", str(composite), "--end", "70", "-o", str(tmp_path / "people.json"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[0].startswith("person") and "(default)" in run.stdout
    assert json.loads((tmp_path / "people.json").read_text())["default"] == 1
    run = _cli("capture", str(composite), "-o", str(tmp_path / "out.npz"), "--end", "70", "--person", "9")
    assert run.returncode == EXIT_CODES["bad_request"], run.stderr[-2000:]
    assert "no person 9" in run.stderr and not (tmp_path / "out.npz").exists()
