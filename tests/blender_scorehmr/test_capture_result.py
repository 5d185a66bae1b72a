"""Rotation helpers and result conversion maths (numpy only, no bpy)."""
from __future__ import annotations

from importlib import import_module

import numpy as np
import pytest

import fake_result


@pytest.fixture(scope="module")
def rot(addon):
    return import_module(f"{addon.__name__}.core.blender_frames")


@pytest.fixture(scope="module")
def capture_result(addon):
    return import_module(f"{addon.__name__}.core.capture_result")


def _quat_to_rotmat(q):
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def test_rotvec_to_rotmat_known_values(rot):
    r = rot.rotvec_to_rotmat(np.array([[0, 0, np.pi / 2], [0, 0, 0]]))
    np.testing.assert_allclose(r[0] @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(r[1], np.eye(3))


def test_quaternion_round_trip_and_sign(rot):
    rng = np.random.default_rng(1)
    rotvec = rng.normal(size=(200, 3)) * 1.5
    mats = rot.rotvec_to_rotmat(rotvec)
    quats = rot.rotmat_to_quat_wxyz(mats)
    assert np.all(quats[:, 0] >= 0)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=1e-12)
    for q, m in zip(quats, mats):
        np.testing.assert_allclose(_quat_to_rotmat(q), m, atol=1e-9)


def test_sign_continuity(rot):
    angles = np.linspace(0, 3.5 * np.pi, 100)  # passes through pi several times: w changes sign
    q = rot.rotmat_to_quat_wxyz(rot.rotvec_to_rotmat(np.stack([angles, 0 * angles, 0 * angles], -1)))
    fixed = rot.quat_sign_continuous(q[:, None, :])[:, 0]
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) > 0)
    assert np.all(np.abs(np.abs(fixed) - np.abs(q)) < 1e-12)


def test_change_of_basis_matrices(rot):
    assert np.allclose(rot.SMPL_TO_ARMATURE @ [0, 1, 0], [0, 0, 1])   # SMPL up -> Blender up
    assert np.allclose(rot.SMPL_TO_ARMATURE @ [0, 0, 1], [0, -1, 0])  # SMPL front -> -Y (front view)
    assert np.allclose(rot.CAMERA_TO_WORLD @ [0, 1, 0], [0, 0, -1])   # camera down -> Blender down
    assert np.allclose(rot.CAMERA_TO_WORLD @ [0, 0, 1], [0, 1, 0])    # camera forward -> +Y


def test_world_joints_match_camera_fk(capture_result, rot, tmp_path):
    """world_joints = SMPL FK in the camera frame, mapped by (x, z, -y), moved by one constant offset."""
    path = fake_result.write_result(tmp_path / "r.npz", frame_indices=range(6))
    res = capture_result.load_result(path)
    heads = capture_result.rest_heads_armature(res.joints_rest)
    world = capture_result.world_joints(res, heads)
    glob = capture_result.global_rotations(res.poses, res.parents)
    cam = np.empty_like(world)
    cam[:, 0] = res.transl + res.joints_rest[0]
    for j in range(1, 24):
        p = res.parents[j]
        cam[:, j] = cam[:, p] + glob[:, p] @ (res.joints_rest[j] - res.joints_rest[p])
    mapped = cam @ rot.CAMERA_TO_WORLD.T
    offset = world - mapped
    np.testing.assert_allclose(offset, np.broadcast_to(offset[0, 0], offset.shape), atol=1e-9)
    np.testing.assert_allclose(world[0, 0], [0, 0, heads[0, 2]], atol=1e-9)  # frame one: above the origin
    # The person faces the camera (global orientation ~ pi about x): rest-like pose stands upright.
    assert world[0, 15, 2] > world[0, 0, 2] > world[0, 7, 2]


def test_load_result_rejects_bad_files(capture_result, tmp_path):
    good = fake_result.make_result(range(4))
    cases = {
        "schema": {**good, "schema_version": np.array(99)},
        "shape": {**good, "transl": good["transl"][:2]},
        "nan": {**good, "poses": np.full_like(good["poses"], np.nan)},
        "parents": {**good, "parents": np.roll(good["parents"], 1)},
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(capture_result.ScoreHMRError) as info:
            capture_result.load_result(tmp_path / f"{name}.npz")
        assert info.value.hint and info.value.code == "bad_result", name
    np.savez(tmp_path / "empty.npz", **fake_result.make_result([]))
    with pytest.raises(capture_result.ScoreHMRError) as info:
        capture_result.load_result(tmp_path / "empty.npz")
    assert info.value.code == "no_person"
    with pytest.raises(capture_result.ScoreHMRError):
        capture_result.load_result(tmp_path / "missing.npz")
    truncated = (tmp_path / "nan.npz").read_bytes()[:200] if (tmp_path / "nan.npz").exists() else b"PK\x03\x04"
    (tmp_path / "truncated.npz").write_bytes(truncated)
    with pytest.raises(capture_result.ScoreHMRError):
        capture_result.load_result(tmp_path / "truncated.npz")


def test_load_result_body_mesh_is_optional(capture_result, tmp_path):
    """Schema 2 carries the shaped body; schema 1 (no mesh keys) still loads, without a mesh."""
    path = fake_result.write_result(tmp_path / "r2.npz", frame_indices=range(3))
    res = capture_result.load_result(path)
    verts, faces, weights = fake_result.make_body_mesh()
    assert res.mesh is not None and res.body_model == "open_body_neutral" and res.betas.shape == (10,)
    np.testing.assert_array_equal(res.mesh.faces, faces)
    np.testing.assert_array_equal(res.mesh.weights, weights)
    np.testing.assert_allclose(res.mesh.vertices, verts)
    old = capture_result.load_result(fake_result.write_result(tmp_path / "r1.npz", frame_indices=range(3), schema=1))
    assert old.mesh is None and old.body_model == "" and np.all(old.betas == 0)


def test_load_result_rejects_bad_meshes(capture_result, tmp_path):
    good = fake_result.make_result(range(3))
    verts, faces, weights = good["mesh_vertices"], good["mesh_faces"], good["skin_weights"]
    negative = weights.copy()
    negative[0, :2] = [1.5, -0.5]
    cases = {
        "partial": {k: v for k, v in good.items() if k != "skin_weights"},
        "vertex shape": {**good, "mesh_vertices": verts[:, :2]},
        "weight shape": {**good, "skin_weights": weights[:, :23]},
        "face shape": {**good, "mesh_faces": faces[:, :2]},
        "float faces": {**good, "mesh_faces": faces.astype(np.float32)},
        "nan": {**good, "mesh_vertices": np.where(np.arange(len(verts))[:, None] == 5, np.nan, verts)},
        "face range": {**good, "mesh_faces": np.where(faces == faces.max(), len(verts), faces)},
        "negative face": {**good, "mesh_faces": faces - 1},
        "negative weight": {**good, "skin_weights": negative},
        "weight sum": {**good, "skin_weights": weights * 0.5},
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(capture_result.ScoreHMRError) as info:
            capture_result.load_result(tmp_path / "bad.npz")
        assert info.value.hint and info.value.code == "bad_result" and "invalid" in info.value.message, name


def test_mesh_gets_the_bone_heads_shift(capture_result, rot):
    """Vertices and bone heads share one mapping: a vertex placed on a joint lands on that bone's head."""
    joints = fake_result.JOINTS_REST.astype(np.float64)
    heads = capture_result.rest_heads_armature(joints)
    np.testing.assert_allclose(capture_result.rest_to_armature(joints[[4, 15]], joints), heads[[4, 15]], atol=1e-12)
    assert heads[:, 2].min() == 0.0
    np.testing.assert_allclose(heads - heads[0], (joints - joints[0]) @ rot.SMPL_TO_ARMATURE.T, atol=1e-12)


def test_frame_mapping(capture_result):
    np.testing.assert_allclose(capture_result.scene_frames(np.array([10, 11, 13]), 10, 1, 30.0, 30.0), [1, 2, 4])
    np.testing.assert_allclose(capture_result.scene_frames(np.array([0, 2]), 0, 5, 30.0, 15.0), [5, 6])
    assert capture_result.scene_fps_settings(25.0) == (25, 1.0)
    fps, base = capture_result.scene_fps_settings(30000 / 1001)
    assert fps == 30 and abs(fps / base - 30000 / 1001) < 1e-9


def test_worker_python_resolution(addon, tmp_path):
    ws = import_module(f"{addon.__name__}.core.worker_setup")
    py = tmp_path / "py"
    py.write_text("")
    assert ws.resolve_worker_python(str(py), None, {}) == str(py)
    assert ws.resolve_worker_python("", None, {ws.ENV_VAR: str(py)}) == str(py)
    env_dir = tmp_path / "env"
    ws.env_python(env_dir).parent.mkdir(parents=True)
    ws.env_python(env_dir).write_text("")
    assert ws.resolve_worker_python("", env_dir, {}) == str(ws.env_python(env_dir))
    with pytest.raises(ws.ScoreHMRError) as info:
        ws.resolve_worker_python("", tmp_path / "none", {})
    assert "Set up worker" in info.value.hint
    with pytest.raises(ws.ScoreHMRError):
        ws.resolve_worker_python(str(tmp_path / "missing"), env_dir, {})


def test_worker_setup_installs_cpu_torch(addon, tmp_path):
    ws = import_module(f"{addon.__name__}.core.worker_setup")
    req = tmp_path / "requirements.txt"
    linux = ws.pip_install_command("py", req, "linux")
    assert linux[:3] == ["py", "-m", "pip"] and linux[linux.index("-r") + 1] == str(req)
    assert linux[linux.index("--extra-index-url") + 1] == ws.TORCH_CPU_INDEX
    assert "--extra-index-url" in ws.pip_install_command("py", req, "win32")
    assert "--extra-index-url" not in ws.pip_install_command("py", req, "darwin")


def test_footage_camera_maps_camera_points_like_the_capture(addon, capture_result):
    """The matched camera's frame (Blender: -z forward, y up) carries OpenCV camera points to ``D p - offset``, and
    ``recentre_offset`` is the shift ``pelvis_world`` applies."""
    cm = import_module(f"{addon.__name__}.camera_match")
    arrays = fake_result.make_result(np.arange(5))
    heads = capture_result.rest_heads_armature(arrays["joints_rest"])
    offset = capture_result.recentre_offset(arrays["transl"], arrays["joints_rest"], heads[0])
    raw = (arrays["transl"].astype(np.float64) + arrays["joints_rest"][0]) @ capture_result.CAMERA_TO_WORLD.T
    pelvis = capture_result.pelvis_world(arrays["transl"], arrays["joints_rest"], heads[0])
    np.testing.assert_allclose(raw - offset, pelvis)
    spec = cm.footage_camera(arrays["image_size"], arrays["camera_intrinsics"], offset)
    p = np.array([0.3, -0.2, 4.0])
    world = spec.matrix_world() @ np.append(cm.BLENDER_FROM_OPENCV @ p, 1.0)
    np.testing.assert_allclose(world[:3], capture_result.CAMERA_TO_WORLD @ p - offset, atol=1e-12)
    assert spec.sensor_fit == "HORIZONTAL" and spec.lens_mm(36.0) == pytest.approx(36.0)  # f = 640 px = width
    np.testing.assert_allclose(cm.project_camera_points(np.array([0.0, 0.0, 2.0]), arrays["camera_intrinsics"]),
                               [320.0, 240.0])
    assert cm.clip_frame_start(video_start=4, scene_start=1) == -3


def _camera_fk(capture_result, res) -> np.ndarray:
    """Camera-frame joints (N, J, 3) of a result by plain FK (no Blender frames)."""
    glob = capture_result.global_rotations(res.poses, res.parents)
    cam = np.empty(res.poses.shape[:2] + (3,))
    cam[:, 0] = res.transl + res.joints_rest[0]
    for j in range(1, cam.shape[1]):
        p = res.parents[j]
        cam[:, j] = cam[:, p] + glob[:, p] @ (res.joints_rest[j] - res.joints_rest[p])
    return cam


def test_a_placed_result_stands_on_a_z_up_floor(capture_result, addon, tmp_path):
    """With the place stage's keys the camera frame is turned by world_rotation (not the level camera's D), the
    floor is z = 0 with the camera camera_height above it, and the matched camera sees the same pixels."""
    cm = import_module(f"{addon.__name__}.camera_match")
    arrays = fake_result.make_result(np.arange(6))
    arrays.update(fake_result.placed_keys(6))
    np.savez(str(tmp_path / "placed.npz"), **arrays)
    res = capture_result.load_result(tmp_path / "placed.npz")
    assert res.camera_height == pytest.approx(fake_result.PLACED_CAMERA_HEIGHT)
    assert res.foot_contacts.shape == (6, 4) and res.foot_contacts.dtype == bool
    np.testing.assert_allclose(res.camera_to_world, arrays["world_rotation"], atol=1e-7)
    heads = capture_result.rest_heads_armature(res.joints_rest)
    world = capture_result.world_joints(res, heads)
    cam = _camera_fk(capture_result, res)
    offset = capture_result.recentre_offset(res.transl, res.joints_rest, heads[0], res.camera_to_world,
                                            res.camera_height)
    np.testing.assert_allclose(world, cam @ res.camera_to_world.T - offset, atol=1e-6)
    # a point on the fitted ground plane lands 2 cm above the floor; the camera is camera_height above it
    normal, plane_offset = arrays["ground"][:3].astype(np.float64), float(arrays["ground"][3])
    on_plane = np.array([0.4, 0.0, 5.0])
    on_plane = on_plane - (on_plane @ normal + plane_offset) * normal
    assert (res.camera_to_world @ on_plane - offset)[2] == pytest.approx(0.02, abs=1e-5)
    spec = cm.footage_camera(res.image_size, res.camera_intrinsics, offset, res.camera_to_world)
    assert spec.location[2] == pytest.approx(fake_result.PLACED_CAMERA_HEIGHT)
    looking = spec.rotation @ np.array([0.0, 0.0, -1.0])                 # a Blender camera looks down its -z
    assert np.degrees(np.arcsin(-looking[2])) == pytest.approx(fake_result.PLACED_PITCH_DEG, abs=1e-4)
    p = np.array([0.3, -0.2, 4.0])
    world_p = spec.matrix_world() @ np.append(cm.BLENDER_FROM_OPENCV @ p, 1.0)
    np.testing.assert_allclose(world_p[:3], res.camera_to_world @ p - offset, atol=1e-6)


def test_bad_world_keys(capture_result, tmp_path):
    arrays = fake_result.make_result(np.arange(4))
    arrays.update(fake_result.placed_keys(4))
    arrays["world_rotation"] = arrays["world_rotation"] * 2.0             # not a rotation: the level camera is used
    np.savez(str(tmp_path / "a.npz"), **arrays)
    res = capture_result.load_result(tmp_path / "a.npz")
    assert res.world_rotation is None and res.camera_height is None
    np.testing.assert_allclose(res.camera_to_world, capture_result.CAMERA_TO_WORLD)
    arrays["foot_contacts"] = np.zeros((3, 4), np.uint8)                 # wrong length: an invalid result
    np.savez(str(tmp_path / "b.npz"), **arrays)
    with pytest.raises(Exception, match="foot_contacts"):
        capture_result.load_result(tmp_path / "b.npz")
    assert capture_result.camera_height_of(tmp_path / "b.npz") == pytest.approx(fake_result.PLACED_CAMERA_HEIGHT)
    assert capture_result.camera_height_of(tmp_path / "missing.npz") is None
