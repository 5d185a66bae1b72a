"""Camera match: a Blender camera where the footage's camera was, with the footage as its background.

Capture results live in the OpenCV camera frame of the (main) footage: x right, y down, z forward, pinhole
``K`` with the principal point at the image centre (``server.jobs.capture.camera_intrinsics``). The add-on maps a
camera-frame point ``p`` to Blender world as ``D p - offset`` (``D`` = :data:`CAMERA_TO_WORLD`, ``offset`` the
re-centring of :func:`motion.recentre_offset` that puts frame one's pelvis above the origin; the result's
``world_rotation`` replaces ``D`` when the worker found the ground). A Blender camera looks down its local -z with +y
up, i.e. its local frame is ``F p`` with ``F = diag(1, -1, -1)``; so the matching camera sits at ``-offset`` with
rotation ``D F`` (90 degrees about world x for a level camera) and lens
``sensor * f_px / long side`` with the sensor fitted to the long side. Through it, the posed body projects onto the
pixels where the worker saw the person (see tests/blender_scorehmr/test_blender_camera_match.py).

Captures of the same footage share one camera: the camera is tagged with its footage, clip timing, size and focal
(:func:`camera_tag`), and a later capture of that footage (another person, another take) reuses it
(:func:`find_footage_camera`) and is keyed through it (:func:`camera_to_armature`): its body keeps its pose relative
to the camera, so everyone stands where the video shows them, on the first capture's ground.

The maths here is numpy only; :func:`create_footage_camera` (bpy imported inside) builds the camera.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .core.blender_frames import CAMERA_TO_WORLD, quat_sign_continuous, rotmat_to_quat_wxyz

log = logging.getLogger(__name__)

BLENDER_FROM_OPENCV = np.diag([1.0, -1.0, -1.0])   # F: OpenCV camera axes -> Blender camera axes
BACKGROUND_ALPHA = 0.8
CLIP_START = 0.05                                  # metres
TAG_KEY = "scorehmr_footage_camera"                # the camera object's custom property: its camera_tag as text
BASE_KEY = "scorehmr_first_frame_matrix"           # a turning camera's matrix_world on the clip's first frame (text)
FOCAL_TOLERANCE = 1e-3                             # relative: focal lengths this close are the same camera


@dataclass(frozen=True)
class FootageCamera:
    """Everything a Blender camera needs to see what the footage's camera saw (world = armature space)."""

    width: int               # pixels
    height: int
    focal_px: float          # K[0, 0]
    location: np.ndarray     # (3,) camera centre in Blender world, metres
    rotation: np.ndarray     # (3, 3) Blender camera axes -> world

    @property
    def sensor_fit(self) -> str:
        """Fit the sensor to the long side (Blender's ``sensor_fit``)."""
        return "HORIZONTAL" if self.width >= self.height else "VERTICAL"

    def lens_mm(self, sensor_mm: float) -> float:
        """Focal length in mm for a sensor of ``sensor_mm`` across the long side: ``sensor * f_px / long side``."""
        return float(sensor_mm) * self.focal_px / max(self.width, self.height)

    def matrix_world(self) -> np.ndarray:
        """(4, 4) camera object matrix (rotation + location, unit scale)."""
        out = np.eye(4)
        out[:3, :3], out[:3, 3] = self.rotation, self.location
        return out


def camera_rotation(to_world: np.ndarray = CAMERA_TO_WORLD) -> np.ndarray:
    """(3, 3) world rotation of the matching camera: ``R F`` with ``R`` the result's camera -> world rotation (``D``
    for a level camera: 90 degrees about +x, looking along +y, z up)."""
    return np.asarray(to_world, dtype=np.float64) @ BLENDER_FROM_OPENCV.T


def footage_camera(image_size: Tuple[int, int], intrinsics: np.ndarray, offset: np.ndarray,
                   to_world: np.ndarray = CAMERA_TO_WORLD) -> FootageCamera:
    """The matching camera from the result's ``image_size`` (width, height), ``camera_intrinsics`` (3, 3), the
    re-centring ``offset`` (3,) that the capture's world positions had subtracted and the camera -> world rotation
    ``to_world`` (3, 3) they were turned by."""
    width, height = (int(v) for v in np.asarray(image_size).reshape(-1)[:2])
    k = np.asarray(intrinsics, dtype=np.float64).reshape(3, 3)
    if width <= 0 or height <= 0 or not np.isfinite(k[0, 0]) or k[0, 0] <= 0:
        raise ValueError(f"no camera for image size {width}x{height} and focal {k[0, 0]}")
    if abs(k[0, 2] - width / 2) > 1 or abs(k[1, 2] - height / 2) > 1:
        log.warning("principal point (%.1f, %.1f) is off the image centre; the camera assumes the centre",
                    k[0, 2], k[1, 2])
    return FootageCamera(width=width, height=height, focal_px=float(k[0, 0]),
                         location=-np.asarray(offset, dtype=np.float64).reshape(3), rotation=camera_rotation(to_world))


def project_camera_points(points_cam: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """OpenCV pinhole: camera-frame points (..., 3) -> pixels (..., 2) (x right, y down from the top-left)."""
    p = np.asarray(points_cam, dtype=np.float64)
    k = np.asarray(intrinsics, dtype=np.float64).reshape(3, 3)
    uvw = p @ k.T
    return uvw[..., :2] / uvw[..., 2:3]


def result_camera_arrays(result: Any) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``(image_size (2,), camera_intrinsics (3, 3))`` of the main view from a result (a
    ``capture_result.CaptureResult`` or the arrays of a result file), or None when it has none (a motion import)."""
    get = result.get if isinstance(result, dict) else (lambda key: getattr(result, key, None))
    size, k = get("image_size"), get("camera_intrinsics")
    if size is None or k is None:
        return None
    size, k = np.asarray(size, dtype=np.float64), np.asarray(k, dtype=np.float64)
    if size.ndim == 2:      # one row per view: the result lives in the main view's camera
        size = size[0]
    if k.ndim == 3:
        k = k[0]
    return size.reshape(2), k.reshape(3, 3)


def clip_frame_start(video_start: int, scene_start: int) -> int:
    """``MovieClip.frame_start`` so that 0-based video frame ``video_start`` shows on scene frame ``scene_start``
    (a clip shows its first frame, video frame 0, on scene frame ``frame_start``)."""
    return int(scene_start) - int(video_start)


def footage_key(footage_path: str) -> str:
    """The footage's absolute, normalised path: two spellings of one file give one key."""
    return os.path.normcase(str(Path(footage_path).resolve()))


def camera_tag(footage_path: str, clip_start: int, image_size: Tuple[int, int], focal_px: float,
               turning: bool = False) -> Dict[str, Any]:
    """What makes two captures' cameras one camera: the same footage, shown from the same scene frame
    (:func:`clip_frame_start`), with the same image size and focal length (pixels), both still or both turning (a
    capture that followed the camera's turn, ``camera_rotation``, keys its camera)."""
    return {"footage": footage_key(footage_path), "clip_start": int(clip_start),
            "size": [int(v) for v in np.asarray(image_size).reshape(-1)[:2]], "focal": float(focal_px),
            "turning": bool(turning)}


def tags_match(stored: Dict[str, Any], wanted: Dict[str, Any]) -> bool:
    """Whether a camera tagged ``stored`` is the camera ``wanted`` asks for (focal within :data:`FOCAL_TOLERANCE`;
    a tag without ``turning`` is a still camera's)."""
    try:
        same = (stored["footage"] == wanted["footage"] and int(stored["clip_start"]) == wanted["clip_start"]
                and [int(v) for v in stored["size"]] == wanted["size"]
                and bool(stored.get("turning", False)) == bool(wanted.get("turning", False)))
        focal = float(stored["focal"])
    except (KeyError, TypeError, ValueError):
        return False
    return same and abs(focal - wanted["focal"]) <= FOCAL_TOLERANCE * max(abs(wanted["focal"]), 1e-9)


def turning_camera_matrices(first: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """A turning camera's ``matrix_world`` per frame (N, 4, 4) from its matrix on the clip's first frame ``first``
    (4, 4) and the camera's rotations ``rotations`` (N, 3, 3) (``x_t = R_t x_0``, OpenCV camera axes): it turns about
    its own centre, its Blender axes onto the world by ``M_0 F R_t^T F``."""
    first = np.asarray(first, dtype=np.float64).reshape(4, 4)
    turn = BLENDER_FROM_OPENCV @ np.transpose(np.asarray(rotations, dtype=np.float64), (0, 2, 1)) @ BLENDER_FROM_OPENCV
    out = np.broadcast_to(first, (len(turn), 4, 4)).copy()
    out[:, :3, :3] = first[:3, :3] @ turn
    return out


def key_camera_turns(camera: Any, frames: np.ndarray, rotations: np.ndarray, created: List[Any]) -> None:
    """Key ``camera``'s rotation (quaternion channels, an action of its own added to ``created``) on scene
    ``frames`` (N,) so it turns as the footage's camera did (:func:`turning_camera_matrices` from its present
    matrix, which is the first frame's), and store that first matrix (:data:`BASE_KEY`) for captures that reuse it."""
    import bpy
    from mathutils import Matrix

    from .keyframes import assign_action, write_curve

    first = np.array(camera.matrix_world, dtype=np.float64)
    matrices = turning_camera_matrices(first, rotations)
    if camera.parent is not None:
        matrices = np.linalg.inv(np.array(camera.parent.matrix_world, dtype=np.float64)) @ matrices
    quats = quat_sign_continuous(rotmat_to_quat_wxyz(
        np.stack([np.array(Matrix(m.tolist()).to_3x3().normalized()) for m in matrices])))
    camera[BASE_KEY] = json.dumps(first.tolist())
    camera.rotation_mode = "QUATERNION"
    action = bpy.data.actions.new(f"{camera.name}_turns")
    created.append(action)
    new_fcurve = assign_action(camera, action)
    for channel in range(4):
        write_curve(new_fcurve("rotation_quaternion", channel, "Camera"), np.asarray(frames, np.float64),
                    quats[:, channel])
    log.info("camera %s keyed turning on %d frames", camera.name, len(frames))


def first_frame_matrix(camera: Any) -> np.ndarray:
    """The camera's matrix_world on the clip's first frame: the stored one of a turning camera
    (:func:`key_camera_turns`), else its present matrix."""
    try:
        stored = np.array(json.loads(str(camera.get(BASE_KEY, ""))), dtype=np.float64)
    except (ValueError, TypeError):
        stored = np.zeros(0)
    return stored if stored.shape == (4, 4) and np.all(np.isfinite(stored)) else np.array(camera.matrix_world)


def opencv_world_from_camera(camera_matrix_world: np.ndarray) -> np.ndarray:
    """(4, 4) world <- OpenCV camera frame (x right, y down, z forward) of a Blender camera object whose
    ``matrix_world`` is ``camera_matrix_world`` (4, 4): ``M diag(F, 1)``."""
    flip = np.eye(4)
    flip[:3, :3] = BLENDER_FROM_OPENCV
    return np.asarray(camera_matrix_world, dtype=np.float64).reshape(4, 4) @ flip


def camera_to_armature(camera_matrix_world: np.ndarray, armature_matrix_world: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """``(rotation (3, 3), translation (3,))`` taking a point of the footage camera's OpenCV frame into the space of
    an armature (``armature_matrix_world`` (4, 4)) so that, seen through the existing camera object
    (``camera_matrix_world`` (4, 4)), it is where that camera saw it: ``p_arm = rotation p_cam + translation``.

    This is ``world_existing_from_camera @ inverse(world_new_from_camera)`` applied to the new capture's own world
    positions (``world_new_from_camera`` being how that capture alone would have placed them), expressed in
    armature space. A scaled armature or camera leaves the rotation orthonormalised (nearest rotation)."""
    to_arm = np.linalg.inv(np.asarray(armature_matrix_world, dtype=np.float64).reshape(4, 4))
    m = to_arm @ opencv_world_from_camera(camera_matrix_world)
    u, _, vt = np.linalg.svd(m[:3, :3])
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:   # a mirrored transform: keep a proper rotation
        rotation = u @ np.diag([1.0, 1.0, -1.0]) @ vt
    return rotation, m[:3, 3].copy()


def pelvis_through_camera(transl: np.ndarray, pelvis_rest: np.ndarray, rotation: np.ndarray,
                          translation: np.ndarray) -> np.ndarray:
    """Pelvis path ``(N, 3)`` in armature space of a result seen through a shared camera: ``transl`` (N, 3) plus
    the rest pelvis ``pelvis_rest`` (3,) is the camera-frame pelvis, mapped by :func:`camera_to_armature`'s
    ``rotation`` (3, 3) and ``translation`` (3,)."""
    cam = np.asarray(transl, dtype=np.float64) + np.asarray(pelvis_rest, dtype=np.float64).reshape(3)
    return cam @ np.asarray(rotation, dtype=np.float64).T + np.asarray(translation, dtype=np.float64).reshape(3)


def create_footage_camera(context: Any, result: Any, offset: np.ndarray, footage_path: str, name: str,
                          video_start: int = 0, scene_start: int = 1, parent_matrix: Optional[np.ndarray] = None,
                          created: Optional[List[Any]] = None, frames: Optional[np.ndarray] = None) -> Any:
    """Create the camera matching the footage, make it the scene camera, set the render resolution to the
    footage's and show the footage behind it (a Movie Clip background image); return the camera object.

    ``name``: a new object is always made (Blender adds .001 when the name is taken). ``parent_matrix`` (4, 4):
    the armature's world matrix (the capture's world is its space). Every data-block made (camera data, object,
    a newly loaded clip) is appended to ``created`` as soon as it exists, so a caller can roll back. When the
    footage cannot be loaded as a movie, the camera is still made and the background skipped with a warning.
    A result whose camera turned (``camera_rotation``) gets the camera keyed on the scene ``frames`` (N,) of its
    poses (:func:`key_camera_turns`). Raises ValueError when the result carries no camera.
    """
    import bpy
    from mathutils import Matrix

    created = created if created is not None else []
    arrays = result_camera_arrays(result)
    if arrays is None:
        raise ValueError("the result has no image_size / camera_intrinsics")
    spec = footage_camera(arrays[0], arrays[1], offset, getattr(result, "camera_to_world", CAMERA_TO_WORLD))
    scene = context.scene
    data = bpy.data.cameras.new(name)
    created.append(data)
    data.sensor_fit = spec.sensor_fit
    data.lens = spec.lens_mm(data.sensor_width if spec.sensor_fit == "HORIZONTAL" else data.sensor_height)
    data.shift_x = data.shift_y = 0.0
    distance = float(np.linalg.norm(spec.location))
    data.clip_start, data.clip_end = CLIP_START, max(100.0, 4.0 * distance)
    camera = bpy.data.objects.new(name, data)
    created.append(camera)
    scene.collection.objects.link(camera)
    matrix = spec.matrix_world() if parent_matrix is None else np.asarray(parent_matrix) @ spec.matrix_world()
    camera.matrix_world = Matrix(matrix.tolist())
    turns = getattr(result, "camera_rotation", None)
    camera[TAG_KEY] = json.dumps(camera_tag(footage_path, clip_frame_start(video_start, scene_start),
                                            (spec.width, spec.height), spec.focal_px, turns is not None))
    if turns is not None and frames is not None:
        key_camera_turns(camera, frames, turns, created)
    use_footage_camera(scene, camera, spec.width, spec.height)
    _add_background(data, footage_path, clip_frame_start(video_start, scene_start), created)
    log.info("camera %s: %dx%d px, focal %.1f px = %.2f mm, at %s", camera.name, spec.width, spec.height,
             spec.focal_px, data.lens, np.round(np.array(camera.matrix_world.translation), 3).tolist())
    return camera


def use_footage_camera(scene: Any, camera: Any, width: int, height: int) -> None:
    """Make ``camera`` the scene camera and render at the footage's ``width`` x ``height`` pixels."""
    scene.camera = camera
    scene.render.resolution_x, scene.render.resolution_y = int(width), int(height)
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0


def find_footage_camera(scene: Any, result: Any, footage_path: str, video_start: int = 0,
                        scene_start: int = 1) -> Any:
    """The camera object in ``scene`` that an earlier capture of the same footage made (same clip timing, size and
    focal: :func:`tags_match`), the scene camera first when several do; None when there is none or ``result``
    carries no camera. A camera linked from a library is never reused."""
    arrays = result_camera_arrays(result)
    if arrays is None:
        return None
    size, k = arrays
    turning = (result.get("camera_rotation") if isinstance(result, dict) else getattr(result, "camera_rotation", None))
    wanted = camera_tag(footage_path, clip_frame_start(video_start, scene_start), size, k[0, 0], turning is not None)
    found = [obj for obj in scene.objects
             if obj.type == "CAMERA" and obj.library is None and tags_match(_stored_tag(obj), wanted)]
    if not found:
        return None
    return scene.camera if scene.camera in found else min(found, key=lambda obj: obj.name)


def _stored_tag(obj: Any) -> Dict[str, Any]:
    """The :func:`camera_tag` a camera object carries, or {} (not made by a capture, or edited into nonsense)."""
    try:
        tag = json.loads(str(obj.get(TAG_KEY, "")))
    except ValueError:
        return {}
    return tag if isinstance(tag, dict) else {}


def _add_background(data: Any, footage_path: str, frame_start: int, created: List[Any]) -> None:
    """Load ``footage_path`` as a Movie Clip (reusing one already loaded) and show it behind the camera, its
    first frame on scene frame ``frame_start``; skip with a warning when Blender cannot read it as a movie."""
    import bpy

    known = set(bpy.data.movieclips)
    try:
        clip = bpy.data.movieclips.load(str(Path(footage_path)), check_existing=True)
    except (RuntimeError, OSError) as exc:
        log.warning("footage %s cannot be loaded as a movie clip (%s): camera without background", footage_path, exc)
        return
    new = clip not in known
    if clip.frame_duration < 1 or clip.size[0] <= 0:
        log.warning("Blender cannot read %s as a movie: camera without background", footage_path)
        if new:
            bpy.data.movieclips.remove(clip)
        return
    if new:
        created.append(clip)
    elif clip.frame_start != frame_start:
        log.info("movie clip %s now starts on scene frame %d (was %d)", clip.name, frame_start, clip.frame_start)
    clip.frame_start = frame_start
    data.show_background_images = True
    background = data.background_images.new()
    background.source = "MOVIE_CLIP"
    background.clip = clip
    background.use_camera_clip = False
    background.alpha = BACKGROUND_ALPHA
    background.frame_method = "FIT"
    background.display_depth = "BACK"
