"""Calibrated cameras: projection with distortion, its inverse, and the Pose2Sim TOML / Qualisys QCA readers."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from server.fitting.calibration import (QCA_FLIP, QCA_SUBPIXELS, CalibrationError, CameraCalibration, read_calibration,
                                read_pose2sim_toml, read_qca, rodrigues_to_rotmat)
from tests.server.camera_samples import body_points, look_at, ring


def test_project_applies_the_opencv_distortion_and_hides_points_behind() -> None:
    cam = look_at("a", (0.0, -4.0, 1.0))
    point = np.array([[0.3, 0.5, 1.4]])
    x, y, z = cam.R @ point[0] + cam.t
    xn, yn = x / z, y / z
    k1, k2, p1, p2, _ = cam.distortion
    r2 = xn * xn + yn * yn
    radial = 1 + k1 * r2 + k2 * r2 * r2
    xd = xn * radial + 2 * p1 * xn * yn + p2 * (r2 + 2 * xn * xn)
    yd = yn * radial + p1 * (r2 + 2 * yn * yn) + 2 * p2 * xn * yn
    expected = [cam.K[0, 0] * xd + cam.K[0, 2], cam.K[1, 1] * yd + cam.K[1, 2]]
    np.testing.assert_allclose(cam.project(point)[0], expected, atol=1e-9)
    assert np.isnan(cam.project(np.array([[0.0, -6.0, 1.0]]))).all()


def test_undistort_points_inverts_the_distortion() -> None:
    cam = look_at("a", (3.0, -3.0, 2.0))
    points = body_points(4).reshape(-1, 3)
    ideal = (points @ cam.projection[:, :3].T + cam.projection[:, 3])
    ideal = ideal[:, :2] / ideal[:, 2:]
    np.testing.assert_allclose(cam.undistort_points(cam.project(points)), ideal, atol=1e-6)
    np.testing.assert_allclose(cam.R @ cam.centre + cam.t, 0.0, atol=1e-12)


def test_rodrigues_to_rotmat() -> None:
    np.testing.assert_allclose(rodrigues_to_rotmat([0.0, 0.0, math.pi / 2]) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                               atol=1e-12)
    np.testing.assert_allclose(rodrigues_to_rotmat([0.0, 0.0, 0.0]), np.eye(3))


def _rotvec(rot: np.ndarray) -> np.ndarray:
    angle = math.acos(np.clip((np.trace(rot) - 1.0) / 2.0, -1.0, 1.0))
    axis = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]]) / (2.0 * math.sin(angle))
    return axis * angle


def _toml(cameras) -> str:
    text = ""
    for cam in cameras:
        k, d, r = cam.K, cam.distortion, _rotvec(cam.R)
        text += (f'[{cam.name}]\nname = "{cam.name}"\nsize = [ {cam.image_size[0]}.0, {cam.image_size[1]}.0]\n'
                 f"matrix = [ [ {k[0, 0]!r}, 0.0, {k[0, 2]!r}], [ 0.0, {k[1, 1]!r}, {k[1, 2]!r}], [ 0.0, 0.0, 1.0]]\n"
                 f"distortions = [ {d[0]!r}, {d[1]!r}, {d[2]!r}, {d[3]!r}]\n"
                 f"rotation = [ {r[0]!r}, {r[1]!r}, {r[2]!r}]\n"
                 f"translation = [ {cam.t[0]!r}, {cam.t[1]!r}, {cam.t[2]!r}]\n"
                 "fisheye = false\n\n")
    return text + "[metadata]\nadjusted = false\nerror = 0.0\n"


def test_pose2sim_toml_round_trip(tmp_path: Path) -> None:
    cameras = ring(3)
    path = tmp_path / "Calib.toml"
    path.write_text(_toml(cameras))
    read = read_calibration(path)
    assert [c.name for c in read] == ["cam01", "cam02", "cam03"] and read[0].image_size == (1080, 1920)
    points = body_points(2).reshape(-1, 3)
    for ours, theirs in zip(read, cameras):
        np.testing.assert_allclose(ours.R, theirs.R, atol=1e-9)
        np.testing.assert_allclose(ours.project(points), theirs.project(points), atol=1e-6)


def _qca(cameras, left: int = 0, top: int = 0) -> str:
    """A Qualisys export of ``cameras``: 1/64 px intrinsics, pose as camera position (mm) + rotation by column."""
    body = ""
    for cam in cameras:
        stored = QCA_FLIP @ cam.R
        pos = cam.centre * 1000.0
        r = " ".join(f'r{i + 1}{j + 1}="{stored[i, j]!r}"' for i in range(3) for j in range(3))
        k, d, s = cam.K, cam.distortion, QCA_SUBPIXELS
        w, h = cam.image_size
        body += (f'<camera serial="{cam.name}" model="none"><fov_video left="{left}" top="{top}" '
                 f'right="{left + w - 1}" bottom="{top + h - 1}"/>'
                 f'<transform {r} x="{pos[0]!r}" y="{pos[1]!r}" z="{pos[2]!r}"/>'
                 f'<intrinsic focalLengthU="{k[0, 0] * s!r}" focalLengthV="{k[1, 1] * s!r}" '
                 f'centerPointU="{(k[0, 2] + left) * s!r}" centerPointV="{(k[1, 2] + top) * s!r}" '
                 f'radialDistortion1="{d[0]!r}" radialDistortion2="{d[1]!r}" radialDistortion3="0" '
                 f'tangentalDistortion1="{d[2]!r}" tangentalDistortion2="{d[3]!r}"/></camera>')
    return f"<?xml version='1.0'?><calibration><cameras>{body}</cameras></calibration>"


def test_qca_reads_subpixels_millimetres_and_the_camera_pose(tmp_path: Path) -> None:
    cameras = ring(2)
    path = tmp_path / "Calib.qca.txt"
    path.write_text(_qca(cameras[::-1], left=8, top=4))
    read = read_calibration(path)
    assert [c.name for c in read] == ["cam01", "cam02"]
    points = body_points(2).reshape(-1, 3)
    for ours, theirs in zip(read, cameras):
        assert ours.image_size == theirs.image_size
        np.testing.assert_allclose(ours.centre, theirs.centre, atol=1e-9)
        np.testing.assert_allclose(ours.project(points), theirs.project(points), atol=1e-6)


GOOD = _toml(ring(1))


@pytest.mark.parametrize("text, words", [
    ("[cam01\nname = 1", "not valid TOML"),
    (GOOD.replace("rotation =", "rot ="), "lacks rotation"),
    (GOOD.replace("[ 0.0, 0.0, 1.0]]", "[ 0.0, 0.0]]"), "camera matrix"),
    (GOOD.replace("fisheye = false", "fisheye = true"), "fisheye"),
    (GOOD.replace("distortions = [", "distortions = [ 0.1, 0.2, 0.3,"), "distortion"),
    ("[metadata]\nerror = 0.0\n", "no camera"),
    ('title = "x"\n', "not a camera table"),
])
def test_malformed_toml_is_a_clear_error(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "Calib.toml"
    path.write_text(text)
    with pytest.raises(CalibrationError) as info:
        read_pose2sim_toml(path)
    assert words in info.value.message and info.value.hint and isinstance(info.value, ValueError)


def test_malformed_qca_and_unknown_files_are_clear_errors(tmp_path: Path) -> None:
    bad_xml = tmp_path / "a.qca.txt"
    bad_xml.write_text("<calibration><cameras>")
    missing = tmp_path / "b.qca.txt"
    missing.write_text(_qca(ring(1)).replace('focalLengthU="', 'focalU="'))
    for path, words in ((bad_xml, "not a Qualisys"), (missing, "lacks focalLengthU")):
        with pytest.raises(CalibrationError, match=words):
            read_qca(path)
    with pytest.raises(CalibrationError, match="unknown calibration format"):
        read_calibration(tmp_path / "calib.json")
    with pytest.raises(CalibrationError, match="not a rotation"):
        CameraCalibration("x", (10, 10), np.eye(3), np.zeros(4), np.diag([1.0, 1.0, -1.0]), np.zeros(3))


def test_cameras_match_clips_by_name_else_in_order() -> None:
    from server.fitting.calibration import CalibrationError, CameraCalibration, match_cameras
    import numpy as np
    import pytest

    def cam(name: str) -> CameraCalibration:
        return CameraCalibration(name, (1920, 1080), np.array([[1000.0, 0, 960], [0, 1000.0, 540], [0, 0, 1]]),
                                 np.zeros(4), np.eye(3), np.zeros(3))

    cams = [cam("cam_01"), cam("cam_02"), cam("cam_10")]
    picked = match_cameras(cams, ["/v/take_cam10.mp4", "/v/cam01.mp4"])
    assert [c.name for c in picked] == ["cam_10", "cam_01"]
    assert [c.name for c in match_cameras(cams, ["/v/a.mp4", "/v/b.mp4", "/v/c.mp4"])] == ["cam_01", "cam_02",
                                                                                         "cam_10"]
    with pytest.raises(CalibrationError, match="3 cameras .* for 2 clips"):
        match_cameras(cams, ["/v/a.mp4", "/v/b.mp4"])


def test_capture_reads_the_calibration_before_detecting(tmp_path: Path) -> None:
    """A calibrated capture fails in a second, with what to do, on a calibration that cannot work."""
    import pytest
    from server.jobs.capture import CaptureRequest, _cameras
    from server.errors import JobError

    assert _cameras(CaptureRequest(video="/v/cam01.mp4", output="o.npz")) is None
    good = tmp_path / "Calib.toml"
    good.write_text(_toml(ring(2)))
    request = CaptureRequest(video="/v/a.mp4", output="o.npz", views=("/v/b.mp4",), calibration=str(good))
    assert len(_cameras(request)) == 2
    cases = [(CaptureRequest(video="/v/a.mp4", output="o.npz", calibration=str(good)), "bad_request"),
             (CaptureRequest(video="/v/a.mp4", output="o.npz", views=("/v/b.mp4", "/v/c.mp4"),
                             calibration=str(good)), "bad_calibration"),
             (CaptureRequest(video="/v/a.mp4", output="o.npz", views=("/v/b.mp4",),
                             calibration=str(tmp_path / "missing.toml")), "bad_calibration")]
    for bad, code in cases:
        with pytest.raises(JobError) as caught:
            _cameras(bad)
        assert caught.value.code == code and caught.value.hint


MATRIX = GOOD.split("matrix = ")[1].split("\n")[0]
TOML_DAMAGE = [
    ("size = 5", GOOD.replace("size = [ 1080.0, 1920.0]", "size = 5"), "image size must be two positive numbers"),
    ("size triple", GOOD.replace("size = [ 1080.0, 1920.0]", "size = [1, 2, 3]"), "image size must be two"),
    ("size text", GOOD.replace("size = [ 1080.0, 1920.0]", 'size = "1080x1920"'), "image size is not a list"),
    ("size words", GOOD.replace("size = [ 1080.0, 1920.0]", 'size = ["w", "h"]'), "image size is not a list"),
    ("size table", GOOD.replace("size = [ 1080.0, 1920.0]", "size = {w = 1}"), "image size is not a list"),
    ("size nan", GOOD.replace("size = [ 1080.0, 1920.0]", "size = [nan, 1920]"), "image size must be two"),
    ("size inf", GOOD.replace("size = [ 1080.0, 1920.0]", "size = [inf, 1920]"), "image size must be two"),
    ("matrix text", GOOD.replace(MATRIX, '"K"'), "camera matrix is not a list of numbers"),
    ("matrix ragged", GOOD.replace(MATRIX, "[[1, 2], [3]]"), "rows differ in length"),
    ("matrix 2x2", GOOD.replace(MATRIX, "[[1, 2], [3, 4]]"), "camera matrix must be 3 x 3 numbers"),
    ("matrix nan", GOOD.replace(MATRIX, "[[nan, 0, 1], [0, 1, 1], [0, 0, 1]]"), "NaN or infinite"),
    ("distortion text", GOOD.replace("distortions = [", 'distortions = [ "a",'), "distortion is not a list"),
    ("distortion one", GOOD.replace("distortions = [ -0.05, 0.12, 0.001, -0.0008]", "distortions = 0.0"),
     "distortion must be"),
    ("rotation text", GOOD.replace("rotation = [", 'rotation = [ "x",'), "rotation (a Rodrigues vector) is not"),
    ("rotation huge", GOOD.replace("rotation = [", "rotation = [ 1e308, 1e308, 1e308] #"), "far too large"),
    ("translation table", GOOD.replace("translation = [", "translation = {x = 1} #"), "translation is not a list"),
    ("name table", GOOD.replace('name = "cam01"', "name = {a = 1}"), "name must be text"),
    ("fisheye text", GOOD.replace("fisheye = false", 'fisheye = "no"'), "fisheye must be true or false"),
    ("empty", "", "holds no camera"),
]


@pytest.mark.parametrize("label, text, words", TOML_DAMAGE, ids=[d[0] for d in TOML_DAMAGE])
def test_every_malformed_toml_is_a_calibration_error(tmp_path: Path, label: str, text: str, words: str) -> None:
    path = tmp_path / "Calib.toml"
    path.write_text(text)
    with pytest.raises(CalibrationError) as info:
        read_calibration(path)
    error = info.value
    assert words in error.message and str(path) in error.message and error.hint
    assert error.code == "bad_calibration" and error.exit_code == 11


QCA = _qca(ring(1))
QCA_DAMAGE = [
    ("cut short", QCA[: len(QCA) // 2], "not a Qualisys calibration"),
    ("empty", "", "not a Qualisys calibration"),
    ("not a number", QCA.replace('focalLengthU="', 'focalLengthU="abc'), 'is not a number'),
    ("nan", QCA.replace('r11="', 'r11="nan" old="'), 'r11="nan" is not a finite number'),
    ("no intrinsic", QCA.replace("<intrinsic", "<other"), "lacks intrinsic"),
    ("negative size", QCA.replace('right="1079"', 'right="-5"'), "image size must be two"),
    ("not a rotation", QCA.replace('r11="', 'r11="5" old="'), "not a rotation"),
]


@pytest.mark.parametrize("label, text, words", QCA_DAMAGE, ids=[d[0] for d in QCA_DAMAGE])
def test_every_malformed_qca_is_a_calibration_error(tmp_path: Path, label: str, text: str, words: str) -> None:
    path = tmp_path / "cams.qca.txt"
    path.write_text(text)
    with pytest.raises(CalibrationError) as info:
        read_calibration(path)
    assert words in info.value.message and str(path) in info.value.message and info.value.hint


def test_binary_missing_and_folder_calibrations(tmp_path: Path) -> None:
    binary = tmp_path / "Calib.toml"
    binary.write_bytes(bytes(range(128, 256)))
    folder = tmp_path / "cams.qca.txt"
    folder.mkdir()
    for path, words in ((binary, "not a text file"), (tmp_path / "none.toml", "does not exist"),
                        (folder, "is a folder")):
        with pytest.raises(CalibrationError, match=words) as info:
            read_calibration(path)
        assert info.value.hint
