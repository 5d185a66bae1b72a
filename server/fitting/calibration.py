"""Calibrated cameras (pinhole + OpenCV radial/tangential distortion) and the files they come in (numpy + stdlib).

A :class:`CameraCalibration` maps world points (metres) to pixels: ``x_cam = R x_world + t`` (OpenCV camera axes: x
right, y down, z forward), then the distortion on the normalised coordinates, then ``K``. Readers:

- :func:`read_pose2sim_toml`: Pose2Sim / Caliscope ``Calib.toml`` (one table per camera with ``name``, ``size``
  [w, h], ``matrix`` (3, 3), ``distortions`` [k1, k2, p1, p2(, k3)], ``rotation`` (a Rodrigues vector,
  world->camera), ``translation`` (metres, world->camera), ``fisheye``; a ``[metadata]`` table is skipped).
- :func:`read_qca`: Qualisys ``.qca.txt`` (XML). Its pixel quantities are in 1/64 pixel (focal length, principal
  point, sensor; the principal point counts from the sensor's corner, so ``fov_video``'s left/top is taken off),
  its ``transform`` is the camera's pose in the world (position in millimetres, a rotation stored by column), and
  its camera looks along -z with y up; read as Pose2Sim's ``calib_qca_fun`` converts it. Checked on the Pose2Sim
  demo by triangulating BlazePose on its four views: 8-13 px median reprojection error (about 1.4% of the
  person's height, the detector's own disagreement between views), against 130-200 px with the rotation read by
  row. The distortion coefficients are taken as they are (normalised coordinates); Pose2Sim divides them by 64
  too, which the demo cannot tell apart (<= 3.6 px anywhere on the body, 0.02 px on the median residual).
- :func:`read_calibration` picks one by the file name.

A file that cannot be used raises :class:`CalibrationError` (a ValueError and a JobError ``bad_calibration``)
with a message that names the camera and the field, and a hint.
"""
from __future__ import annotations

import math
import re
import tomllib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Tuple, Union, cast

import numpy as np

from ..errors import JobError

QCA_SUBPIXELS = 64.0            # Qualisys pixel quantities are in 1/64 pixel
QCA_FLIP = np.diag([1.0, -1.0, -1.0])   # a Qualisys camera looks along -z with y up: pi about x gives OpenCV's axes
UNDISTORT_ITERATIONS = 50
UNDISTORT_TOLERANCE = 1e-12     # normalised units
FORMAT_HINT = ("Use a Pose2Sim/Caliscope Calib.toml (one table per camera: name, size, matrix, distortions, "
               "rotation, translation) or a Qualisys .qca.txt export.")


class CalibrationError(JobError, ValueError):
    """A calibration file that cannot be used (code ``bad_calibration``): ``message`` says what is wrong, ``hint``
    what to do; ``str()`` is both."""

    def __init__(self, message: str, hint: str = FORMAT_HINT) -> None:
        super().__init__("bad_calibration", message, hint)
        self.args = (f"{message} {hint}".strip(),)


def _numbers(value: object, what: str) -> np.ndarray:
    """``value`` (a number or nested lists of numbers) as a float64 array; anything else -> CalibrationError."""
    if isinstance(value, (str, bytes, dict)):
        raise CalibrationError(f"{what} is not a list of numbers (it is {type(value).__name__}: {str(value)[:40]!r}).")
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CalibrationError(f"{what} is not a list of numbers, or its rows differ in length.") from exc


def _frozen(value: object, shape: Tuple[int, ...], what: str) -> np.ndarray:
    array = _numbers(value, what)
    if array.shape != shape:
        raise CalibrationError(f"{what} must be {_shape_words(shape)}, got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise CalibrationError(f"{what} holds NaN or infinite values.")
    array.setflags(write=False)
    return array


def _shape_words(shape: Tuple[int, ...]) -> str:
    """(3, 3) -> "3 x 3 numbers"; (3,) -> "3 numbers"."""
    return f"{' x '.join(map(str, shape))} numbers" if shape else "one number"


def _image_size(value: object, where: str) -> Tuple[int, int]:
    """(width, height) in pixels from two positive finite numbers; else CalibrationError."""
    size = _numbers(value, f"{where}: the image size")
    if size.shape != (2,) or not np.all(np.isfinite(size)) or np.any(size <= 0) or np.any(size > 1e6):
        shown = size.tolist() if size.size <= 4 else f"{size.size} values"
        raise CalibrationError(f"{where}: the image size must be two positive numbers [width, height] in pixels, "
                               f"got {shown}.")
    return int(round(float(size[0]))), int(round(float(size[1])))


@dataclass(frozen=True, eq=False)
class CameraCalibration:
    """One calibrated camera. ``image_size`` (width, height) pixels; ``K`` (3, 3); ``distortion`` (4,) or (5,)
    k1, k2, p1, p2[, k3] (OpenCV); ``R`` (3, 3) and ``t`` (3,) world -> camera, metres. Arrays are read-only."""

    name: str
    image_size: Tuple[int, int]
    K: np.ndarray
    distortion: np.ndarray
    R: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        where = f"camera {self.name!r}"
        dist = _numbers(self.distortion, f"{where}: distortion").reshape(-1)
        if dist.shape not in ((4,), (5,)):
            raise CalibrationError(f"{where}: distortion must be k1, k2, p1, p2 (, k3), got {dist.shape[0]} values.")
        set_ = object.__setattr__
        set_(self, "K", _frozen(self.K, (3, 3), f"{where}: the camera matrix"))
        set_(self, "distortion", _frozen(dist, dist.shape, f"{where}: distortion"))
        set_(self, "R", _frozen(self.R, (3, 3), f"{where}: the rotation"))
        set_(self, "t", _frozen(_numbers(self.t, f"{where}: the translation").reshape(-1), (3,),
                                f"{where}: the translation"))
        set_(self, "image_size", _image_size(self.image_size, where))
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0 or abs(self.K[2, 2] - 1.0) > 1e-9:
            raise CalibrationError(f"{where}: the camera matrix needs positive focal lengths and a last row 0 0 1.")
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=1e-5) or np.linalg.det(self.R) < 0:
            raise CalibrationError(f"{where}: the rotation is not a rotation matrix.")

    @property
    def projection(self) -> np.ndarray:
        """(3, 4) ``K [R | t]``: world points to undistorted homogeneous pixels."""
        return self.K @ np.c_[self.R, self.t]

    @property
    def centre(self) -> np.ndarray:
        """(3,) the camera's position in the world (metres)."""
        return -self.R.T @ self.t

    def _coefficients(self) -> Tuple[float, float, float, float, float]:
        d = self.distortion
        return float(d[0]), float(d[1]), float(d[2]), float(d[3]), float(d[4]) if len(d) > 4 else 0.0

    def distort(self, xy: np.ndarray) -> np.ndarray:
        """Normalised undistorted camera coordinates (N, 2) -> distorted ones (N, 2)."""
        k1, k2, p1, p2, k3 = self._coefficients()
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        return np.stack([x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
                         y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y], -1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) metres -> pixels (N, 2) with distortion; NaN for points not in front of the camera."""
        cam = np.asarray(points, dtype=np.float64).reshape(-1, 3) @ self.R.T + self.t
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = cam[:, :2] / cam[:, 2:3]
        xy[~(cam[:, 2] > 0)] = np.nan
        return self._to_pixels(self.distort(xy))

    def _to_pixels(self, xy: np.ndarray) -> np.ndarray:
        k = self.K
        return np.stack([k[0, 0] * xy[:, 0] + k[0, 1] * xy[:, 1] + k[0, 2], k[1, 1] * xy[:, 1] + k[1, 2]], -1)

    def normalise(self, uv: np.ndarray) -> np.ndarray:
        """Distorted pixels (N, 2) -> normalised undistorted camera coordinates (N, 2) (the distortion inverted by
        fixed-point iteration, as OpenCV's undistortPoints)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        k = self.K
        yd = (uv[:, 1] - k[1, 2]) / k[1, 1]
        xd = (uv[:, 0] - k[0, 2] - k[0, 1] * yd) / k[0, 0]
        k1, k2, p1, p2, k3 = self._coefficients()
        x, y = xd.copy(), yd.copy()
        for _ in range(UNDISTORT_ITERATIONS):
            r2 = x * x + y * y
            radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
            nx = (xd - 2.0 * p1 * x * y - p2 * (r2 + 2.0 * x * x)) / radial
            ny = (yd - p1 * (r2 + 2.0 * y * y) - 2.0 * p2 * x * y) / radial
            step = np.nanmax(np.abs(np.r_[nx - x, ny - y]), initial=0.0)
            x, y = nx, ny
            if step < UNDISTORT_TOLERANCE:
                break
        return np.stack([x, y], -1)

    def undistort_points(self, uv: np.ndarray) -> np.ndarray:
        """Distorted pixels (N, 2) -> the pixels (N, 2) an ideal pinhole camera with the same ``K`` would see."""
        return self._to_pixels(self.normalise(uv))


def rodrigues_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues (axis * angle) vector (3,) -> rotation matrix (3, 3)."""
    r = np.asarray(rotvec, dtype=np.float64).reshape(3)
    angle = float(np.linalg.norm(r))
    if angle < 1e-12:
        return np.eye(3)
    kx, ky, kz = r / angle
    cross = np.array([[0.0, -kz, ky], [kz, 0.0, -kx], [-ky, kx, 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _toml_camera(section: str, table: dict) -> CameraCalibration:
    missing = [key for key in ("size", "matrix", "distortions", "rotation", "translation") if key not in table]
    if missing:
        raise CalibrationError(f"camera [{section}] lacks {', '.join(missing)}.")
    fisheye = table.get("fisheye", False)
    if not isinstance(fisheye, bool):
        raise CalibrationError(f"camera [{section}]: fisheye must be true or false, got {fisheye!r}.")
    if fisheye:
        raise CalibrationError(f"camera [{section}] is a fisheye camera, which is not supported.",
                               "Calibrate it with the pinhole model (fisheye = false).")
    name = table.get("name", section)
    if not isinstance(name, (str, int)):
        raise CalibrationError(f"camera [{section}]: name must be text, got {type(name).__name__}.")
    rotation = _frozen(table["rotation"], (3,), f"camera [{section}]: rotation (a Rodrigues vector)")
    if not np.linalg.norm(rotation) < 1e6:
        raise CalibrationError(f"camera [{section}]: rotation (a Rodrigues vector) is far too large: "
                               f"{rotation.tolist()}.")
    return CameraCalibration(name=str(name), image_size=table["size"],
                             K=table["matrix"], distortion=table["distortions"], R=rodrigues_to_rotmat(rotation),
                             t=table["translation"])


def _in_file(path: Path, build: Callable[[], CameraCalibration]) -> CameraCalibration:
    """``build()``, with the file named in front of a CalibrationError's message when it does not name it."""
    try:
        return build()
    except CalibrationError as exc:
        if str(path) in exc.message:
            raise
        raise CalibrationError(f"{path}: {exc.message}", exc.hint) from exc


def read_pose2sim_toml(path: Path) -> List[CameraCalibration]:
    """A Pose2Sim / Caliscope calibration TOML -> its cameras in file order. Raises CalibrationError."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CalibrationError(f"{path} is not a text file, so not a TOML calibration.") from exc
    except OSError as exc:
        raise CalibrationError(f"cannot read {path}: {exc.strerror or exc}.", "Check the path.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{path} is not valid TOML ({exc}).") from exc
    cameras = []
    for section, table in data.items():
        if section == "metadata":
            continue
        if not isinstance(table, dict):
            raise CalibrationError(f"{path}: {section!r} is not a camera table.")
        cameras.append(_in_file(path, lambda: _toml_camera(section, table)))
    if not cameras:
        raise CalibrationError(f"{path} holds no camera.")
    return cameras


def _qca_floats(element: ElementTree.Element, keys: Tuple[str, ...], where: str) -> List[float]:
    """The attributes ``keys`` of ``element`` as finite numbers; a missing or non-numeric one -> CalibrationError."""
    values = []
    for key in keys:
        if key not in element.attrib:
            raise CalibrationError(f"{where} lacks {key}.")
        try:
            value = float(element.attrib[key])
        except ValueError as exc:
            raise CalibrationError(f'{where}: {key}="{element.attrib[key][:40]}" is not a number.') from exc
        if not math.isfinite(value):
            raise CalibrationError(f'{where}: {key}="{element.attrib[key][:40]}" is not a finite number.')
        values.append(value)
    return values


def _qca_camera(cam: ElementTree.Element, path: Path) -> CameraCalibration:
    name = cam.attrib.get("serial", "?")
    where = f"{path}: camera {name}"
    parts = {tag: cam.find(tag) for tag in ("fov_video", "intrinsic", "transform")}
    if any(part is None for part in parts.values()):
        raise CalibrationError(f"{where} lacks {', '.join(t for t, p in parts.items() if p is None)}.")
    found = {tag: part for tag, part in parts.items() if part is not None}
    left, top, right, bottom = _qca_floats(found["fov_video"], ("left", "top", "right", "bottom"), where)
    fu, fv, cu, cv, k1, k2, k3, p1, p2 = _qca_floats(found["intrinsic"], (
        "focalLengthU", "focalLengthV", "centerPointU", "centerPointV", "radialDistortion1", "radialDistortion2",
        "radialDistortion3", "tangentalDistortion1", "tangentalDistortion2"), where)
    keys = tuple(f"r{i}{j}" for i in (1, 2, 3) for j in (1, 2, 3)) + ("x", "y", "z")
    values = _qca_floats(found["transform"], keys, where)
    stored = np.array(values[:9]).reshape(3, 3)        # by column: its transpose is camera -> world
    centre = np.array(values[9:]) / 1000.0
    rotation = QCA_FLIP @ stored                       # world -> OpenCV camera
    k = np.array([[fu / QCA_SUBPIXELS, 0.0, cu / QCA_SUBPIXELS - left],
                  [0.0, fv / QCA_SUBPIXELS, cv / QCA_SUBPIXELS - top], [0.0, 0.0, 1.0]])
    size = cast(Tuple[int, int], (right - left + 1, bottom - top + 1))  # __post_init__ rounds it to pixels
    return CameraCalibration(name=name, image_size=size, K=k,
                             distortion=np.array([k1, k2, p1, p2, k3]), R=rotation, t=-rotation @ centre)


def read_qca(path: Path) -> List[CameraCalibration]:
    """A Qualisys ``.qca.txt`` -> its cameras, in natural order of their serials. Raises CalibrationError."""
    try:
        root = ElementTree.parse(path).getroot()
    except OSError as exc:
        raise CalibrationError(f"cannot read {path}: {exc.strerror or exc}.", "Check the path.") from exc
    except ElementTree.ParseError as exc:
        raise CalibrationError(f"{path} is not a Qualisys calibration (XML: {exc}).") from exc
    cameras = [_in_file(path, lambda: _qca_camera(cam, Path(path))) for cam in root.iter("camera")]
    if not cameras:
        raise CalibrationError(f"{path} holds no camera.")
    return sorted(cameras, key=lambda c: _natural_key(c.name))


def read_calibration(path: Union[str, Path]) -> List[CameraCalibration]:
    """A calibration file by its name: ``*.toml`` (Pose2Sim) or ``*.qca.txt`` / ``*.qca`` (Qualisys)."""
    name = Path(path).name.lower()
    if not name.endswith((".toml", ".qca.txt", ".qca")):
        raise CalibrationError(f"{path}: unknown calibration format (expected .toml or .qca.txt).")
    if not Path(path).is_file():
        state = "is a folder, not a file" if Path(path).is_dir() else "does not exist"
        raise CalibrationError(f"The calibration file {path} {state}.", "Check the path.")
    return read_pose2sim_toml(Path(path)) if name.endswith(".toml") else read_qca(Path(path))


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def match_cameras(cameras: List[CameraCalibration], videos: List[str]) -> List[CameraCalibration]:
    """The calibration's camera for each video: by name when every video's file name contains exactly one
    camera's name (``cam01.mp4`` <- ``cam01`` / ``cam_01``) and no camera is used twice, else in file order when
    the counts agree. Raises CalibrationError otherwise."""
    stems = [_plain(Path(v).name.split(".")[0]) for v in videos]
    picked = []
    for stem in stems:
        hits = [c for c in cameras if _plain(c.name) and _plain(c.name) in stem]
        longest = max((len(_plain(c.name)) for c in hits), default=0)
        hits = [c for c in hits if len(_plain(c.name)) == longest]
        picked.append(hits[0] if len(hits) == 1 else None)
    if None not in picked and len({id(c) for c in picked}) == len(picked):
        return cast(List[CameraCalibration], picked)
    if len(cameras) == len(videos):
        return list(cameras)
    raise CalibrationError(f"The calibration has {len(cameras)} cameras ({', '.join(c.name for c in cameras)}) "
                           f"for {len(videos)} clips, and their names do not match the clips' file names.",
                           "Give one camera per clip: name the clips after the cameras (cam01.mp4 for cam01), "
                           "or list the cameras in the clips' order.")
