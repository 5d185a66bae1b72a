"""Import of SMPL / AMASS motion files: formats, the round trip into Blender's world, bad files."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from server.body.model import default_body_model_path, load_body_model, skin
from server.cli import main
from server.errors import JobError
from server.jobs.motion_import import CAMERA_TO_WORLD, import_motion, load_motion

from ..bad_files import CONTAINER_DAMAGE, damaged_containers


@pytest.fixture(scope="module")
def body():
    return load_body_model(default_body_model_path())


def _amass(frames: int = 6, seed: int = 0):
    """A small AMASS-like SMPL-H clip: (N, 156) poses, z-up world trans, 16 betas, 60 fps."""
    rng = np.random.default_rng(seed)
    poses = rng.normal(0.0, 0.3, (frames, 156))
    poses[:, :3] = [np.pi / 2, 0.0, 0.4]   # standing up in a z-up world, turned a little
    trans = np.stack([np.linspace(0, 1, frames), np.zeros(frames), np.full(frames, 0.9)], -1)
    return {"poses": poses, "trans": trans, "betas": rng.normal(0, 0.5, 16), "mocap_framerate": np.array(60.0),
            "gender": np.array("neutral")}


def test_round_trip_into_blender_world(tmp_path: Path, body) -> None:
    src, out = tmp_path / "clip.npz", tmp_path / "result.npz"
    arrays = _amass()
    np.savez(src, **arrays)
    summary = import_motion(str(src), str(out))
    assert summary.frames == 6 and Path(summary.path) == out.resolve()
    with np.load(out, allow_pickle=False) as data:
        res = {k: data[k] for k in data.files}
    assert res["poses"].shape == (6, 24, 3) and float(res["fps"]) == 60.0 and str(res["method"]) == "import"
    assert str(res["source_video"]) == "clip.npz" and list(res["frame_indices"]) == list(range(6))
    np.testing.assert_allclose(res["betas"], arrays["betas"][:10], atol=1e-6)
    np.testing.assert_allclose(res["poses"][:, 22:], 0.0)   # hands of SMPL+H: identity
    betas = arrays["betas"][:10]
    world = np.zeros((6, 24, 3))
    world[:, :22] = arrays["poses"][:, :66].reshape(6, 22, 3)
    _, expected = skin(body, world, betas, arrays["trans"])
    _, got_cam = skin(body, res["poses"].astype(np.float64), betas, res["transl"].astype(np.float64))
    np.testing.assert_allclose(got_cam @ CAMERA_TO_WORLD.T, expected, atol=1e-4)
    np.testing.assert_allclose(res["joints_rest"], body.J_regressor @ res["mesh_vertices"].astype(np.float64),
                               atol=1e-4)


@pytest.mark.parametrize("layout", ["smpl72", "body66", "smplx165", "split"])
def test_pose_layouts(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(1)
    n = 4
    full = rng.normal(0, 0.2, (n, 24, 3))
    if layout == "smpl72":
        arrays = {"poses": full.reshape(n, 72), "fps": 25}
    elif layout == "body66":
        arrays = {"poses": full[:, :22].reshape(n, 66), "mocap_frame_rate": 25.0}
    elif layout == "smplx165":
        arrays = {"poses": np.concatenate([full[:, :22].reshape(n, 66), rng.normal(size=(n, 99))], 1), "fps": 25}
    else:
        arrays = {"root_orient": full[:, 0], "pose_body": full[:, 1:22].reshape(n, 63), "fps": 25,
                  "betas": rng.normal(size=(n, 10))}
    np.savez(tmp_path / "m.npz", **arrays)
    poses, trans, betas, fps = load_motion(str(tmp_path / "m.npz"))
    assert poses.shape == (n, 24, 3) and fps == 25.0 and betas.shape == (10,)
    np.testing.assert_allclose(poses[:, :22], full[:, :22])
    np.testing.assert_allclose(poses[:, 22:], full[:, 22:] if layout == "smpl72" else 0.0)
    np.testing.assert_array_equal(trans, 0.0)
    if layout == "split":
        np.testing.assert_allclose(betas, arrays["betas"].mean(0))


def test_defaults_without_frame_rate_or_betas(tmp_path: Path, caplog) -> None:
    np.savez(tmp_path / "m.npz", poses=np.zeros((3, 72)))
    poses, trans, betas, fps = load_motion(str(tmp_path / "m.npz"))
    assert fps == 30.0 and "assuming 30" in caplog.text
    np.testing.assert_array_equal(betas, np.zeros(10))


def _bad_files(tmp_path: Path):
    ok = _amass(3)
    yield "missing", tmp_path / "nope.npz", "does not exist"
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    yield "unreadable", text, "not a readable"
    pickled = tmp_path / "pickled.npz"
    with open(pickled, "wb") as fh:
        pickle.dump({"poses": [1, 2, 3]}, fh)
    yield "pickled", pickled, "not a readable"
    obj = tmp_path / "object.npz"
    np.savez(obj, poses=np.array([None, 1], dtype=object))
    yield "object_array", obj, "not a readable"
    for name, arrays, why in (
        ("no_poses", {"trans": ok["trans"]}, "has no 'poses'"),
        ("width", {"poses": np.zeros((3, 70))}, "accepted widths"),
        ("zero_frames", {"poses": np.zeros((0, 72))}, "no frames"),
        ("nan", {**ok, "poses": np.where(np.arange(156) == 5, np.nan, ok["poses"])}, "NaN"),
        ("inf_trans", {**ok, "trans": ok["trans"] + np.inf}, "NaN or infinite"),
        ("trans_shape", {**ok, "trans": ok["trans"][:2]}, "'trans'"),
        ("split_shape", {"root_orient": np.zeros((3, 3)), "pose_body": np.zeros((3, 60))}, "pose_body"),
        ("bad_fps", {**ok, "mocap_framerate": np.array(-1.0)}, "positive"),
        ("poses_text", {**ok, "poses": np.full((3, 156), "x")}, "'poses' holds text"),
        ("poses_complex", {**ok, "poses": ok["poses"].astype(complex)}, "'poses' holds complex numbers"),
        ("poses_record", {**ok, "poses": np.zeros(3, dtype=[("a", "f4")])}, "'poses' holds records"),
        ("fps_text", {**ok, "mocap_framerate": np.array("thirty")}, "'mocap_framerate' holds text"),
        ("fps_list", {**ok, "mocap_framerate": np.array([30.0, 60.0])}, "one positive number"),
        ("betas_text", {**ok, "betas": np.array(["tall"] * 10)}, "'betas' holds text"),
        ("betas_3d", {**ok, "betas": np.zeros((3, 2, 10))}, "'betas' is"),
        ("trans_text", {**ok, "trans": np.full((3, 3), "x")}, "'trans' holds text"),
        ("root_text", {"root_orient": np.full((3, 3), "x"), "pose_body": np.zeros((3, 63))}, "'root_orient' holds"),
    ):
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        yield name, path, why


@pytest.mark.parametrize("label", [c[0] for c in CONTAINER_DAMAGE])
def test_damaged_files_are_clear_errors(tmp_path: Path, label: str) -> None:
    found = {name: (path, words) for name, path, words in damaged_containers(tmp_path / "in", _amass(3))}
    path, words = found[label]
    with pytest.raises(JobError) as info:
        import_motion(str(path), str(tmp_path / "out.npz"))
    error = info.value
    assert error.code == "bad_request" and error.hint and words in error.message and path.name in error.message
    assert not (tmp_path / "out.npz").exists()


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    for name, path, why in _bad_files(tmp_path):
        with pytest.raises(JobError, match=why) as info:
            import_motion(str(path), str(tmp_path / "out.npz"))
        assert info.value.code == "bad_request" and info.value.hint, name
        assert not (tmp_path / "out.npz").exists()


def test_cancel(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", **_amass(3))
    with pytest.raises(JobError) as info:
        import_motion(str(tmp_path / "m.npz"), str(tmp_path / "out.npz"), cancelled=lambda: True)
    assert info.value.code == "cancelled" and not (tmp_path / "out.npz").exists()


def test_cli(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", **_amass(3))
    assert main(["import-motion", str(tmp_path / "m.npz"), "-o", str(tmp_path / "out.npz")]) == 0
    assert (tmp_path / "out.npz").is_file()
    assert main(["import-motion", str(tmp_path / "gone.npz"), "-o", str(tmp_path / "o2.npz")]) == 2
