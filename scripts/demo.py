"""Demo: capture the sample clip through the real worker and the real add-on in headless Blender.

Run by ``python3 build.py demo`` inside the project's .venv (it has bpy). Writes ``<out>/demo.blend``,
``<out>/contact_sheet.png`` (video frames beside Workbench renders of the posed body, seen through the camera
that the capture's Match Camera option made) and ``<out>/camera_overlay.png`` (whole footage frames with the
render through that camera laid over them), and prints the wall time split by stage and frames per second. Then runs
Clean up Motion on the captured action (the real worker again) and prints its time and the pose jitter before and
after; the blend keeps both actions (the cleaned one assigned, the capture with a fake user).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from contact_sheet import person_box, write_contact_sheet, write_overlay_sheet  # noqa: E402
from tests.blender_scorehmr.blender_support import start_blender, stage_repo  # noqa: E402

log = logging.getLogger("demo")


def _parse(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", required=True, help="footage to capture")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--sheet-frames", type=int, default=8, help="frames on the contact sheet")
    parser.add_argument("--overlay-frames", type=int, default=6, help="frames on the camera overlay sheet")
    return parser.parse_args(argv)


def _clean_scene(bpy) -> None:
    """The factory scene's cube would stand in the way; the demo starts from an empty scene."""
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)


def add_bone_proxies(bpy, armature) -> object:
    """A simple rigid proxy body (one tapered box per bone, weighted to it) so renders show the pose.

    Armatures render as nothing; results without a body mesh get this so the motion is visible in a render.
    """
    verts, faces, groups = [], [], []
    for bone in armature.data.bones:
        head, tail = np.array(bone.head_local), np.array(bone.tail_local)
        axis = tail - head
        length = float(np.linalg.norm(axis))
        if length < 1e-4:
            continue
        z = axis / length
        x = np.cross(z, [0.0, 0.0, 1.0] if abs(z[2]) < 0.9 else [1.0, 0.0, 0.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        width = max(0.025, min(0.07, 0.18 * length))
        base = len(verts)
        for end, scale in ((head, 1.0), (tail, 0.7)):
            for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                verts.append(end + width * scale * (sx * x + sy * y))
        faces += [(base, base + 1, base + 2, base + 3), (base + 7, base + 6, base + 5, base + 4)]
        faces += [(base + i, base + 4 + i, base + 4 + (i + 1) % 4, base + (i + 1) % 4) for i in range(4)]
        groups.append((bone.name, list(range(base, base + 8))))
    mesh = bpy.data.meshes.new("BoneProxy")
    mesh.from_pydata([tuple(v) for v in verts], [], faces)
    proxy = bpy.data.objects.new("BoneProxy", mesh)
    bpy.context.scene.collection.objects.link(proxy)
    for name, indices in groups:
        proxy.vertex_groups.new(name=name).add(indices, 1.0, "REPLACE")
    modifier = proxy.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    proxy.parent = armature
    return proxy


def _workbench(scene) -> None:
    """Workbench, transparent film, RGBA PNGs, a single warm colour: the body alone, to lay over the footage."""
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.film_transparent = True
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "SINGLE"
    scene.display.shading.single_color = (0.9, 0.55, 0.2)


def render_frames(bpy, frames: list, boxes: list, image_size: tuple, folder: Path) -> list:
    """Workbench renders (RGBA) of the scene frames, each cropped to its pixel box of the footage."""
    scene = bpy.context.scene
    width, height = image_size
    _workbench(scene)
    scene.render.resolution_percentage = 100
    scene.render.use_border = True
    scene.render.use_crop_to_border = True
    paths = []
    for frame, (x0, y0, x1, y1) in zip(frames, boxes):
        scene.render.border_min_x, scene.render.border_max_x = x0 / width, x1 / width
        scene.render.border_min_y, scene.render.border_max_y = 1 - y1 / height, 1 - y0 / height
        scene.frame_set(int(frame))
        scene.render.filepath = str(folder / f"render_{int(frame):04d}.png")
        bpy.ops.render.render(write_still=True)
        paths.append(Path(scene.render.filepath))
    return paths


def render_full_frames(bpy, frames: list, folder: Path, percentage: int = 50) -> list:
    """Workbench renders (RGBA, transparent film) of whole scene frames through the scene camera (the matched
    camera: the same view as the footage) at ``percentage`` of the footage's resolution."""
    scene = bpy.context.scene
    _workbench(scene)
    scene.render.use_border = False
    scene.render.resolution_percentage = percentage
    paths = []
    for frame in frames:
        scene.frame_set(int(frame))
        scene.render.filepath = str(folder / f"overlay_{int(frame):04d}.png")
        bpy.ops.render.render(write_still=True)
        paths.append(Path(scene.render.filepath))
    scene.render.resolution_percentage = 100
    return paths


def main(argv: list) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = _parse(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="scorehmr-demo-"))
    try:
        return _demo(args, out, work)
    finally:  # the staged repository, Blender's user folder and the renders (about 56 MB a run)
        shutil.rmtree(work, ignore_errors=True)


def _demo(args: argparse.Namespace, out: Path, work: Path) -> int:
    """Capture, contact sheets and cleanup, with ``work`` as the scratch folder; 0."""
    bl = start_blender(work / "user", stage_repo(work / "repo"))
    bpy = bl.bpy
    _clean_scene(bpy)
    bpy.context.scene.scorehmr.match_camera = True  # the capture makes the camera matching the footage
    tick = time.perf_counter()
    armature = bl.capture(worker_python=sys.executable, video=str(Path(args.video).resolve()))
    wall = time.perf_counter() - tick
    report = bl.last_report()
    result = dict(np.load(report["result_path"], allow_pickle=False))
    motion = bl.sub("core.capture_result")
    if not report.get("body"):  # a result without a body mesh: show the bones as rigid boxes instead
        add_bone_proxies(bpy, armature)
    camera = bpy.context.scene.camera  # made by the capture (Match Camera: blender_scorehmr/camera_match.py)
    if camera is None or camera.type != "CAMERA":
        raise RuntimeError("the capture made no matched camera")
    blend = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    video_frames = result["frame_indices"]
    rows = np.linspace(0, len(video_frames) - 1, args.sheet_frames).round().astype(int)
    picks = video_frames[rows]
    image_size = tuple(int(v) for v in result["image_size"])
    boxes = [person_box(result["keypoints_2d"][row], image_size) for row in rows]
    scene_frames = scene_frames_of(motion, result, picks)
    tick = time.perf_counter()
    renders = render_frames(bpy, scene_frames, boxes, image_size, work)
    render_seconds = time.perf_counter() - tick
    sheet = write_contact_sheet(args.video, picks.tolist(), boxes, renders, out / "contact_sheet.png")
    overlay_rows = np.linspace(0, len(video_frames) - 1, args.overlay_frames).round().astype(int)
    overlay_picks = video_frames[overlay_rows]
    overlays = render_full_frames(bpy, scene_frames_of(motion, result, overlay_picks), work)
    overlay_sheet = write_overlay_sheet(args.video, overlay_picks.tolist(), overlays, out / "camera_overlay.png")
    log.info("camera overlay sheet (renders through %s over the footage): %s", camera.name, overlay_sheet)
    _log_figures(report, wall, int(result["frame_count"]), len(video_frames), render_seconds)
    clean_up(bl, armature)
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    log.info("wrote %s, %s and %s", blend, sheet, overlay_sheet)
    return 0


def scene_frames_of(motion, result: dict, video_frames: np.ndarray) -> list:
    """Scene frames (ints) of 0-based video frames: the demo captures the whole clip onto scene frame 1."""
    fps = float(result["fps"])
    return [int(round(f)) for f in motion.scene_frames(video_frames, 0, 1, fps, fps)]


def clean_up(bl, armature) -> None:
    """Clean up Motion on ``armature``'s action over the scene range; log the time and the pose jitter (mean joint
    acceleration, mm/frame^2, root included) of the capture and of the cleaned action."""
    bpy = bl.bpy
    bpy.context.view_layer.objects.active = armature
    original = armature.animation_data.action
    tick = time.perf_counter()
    if bpy.ops.scorehmr.cleanup() != {"FINISHED"}:
        raise RuntimeError(f"cleanup failed: {bl.status().error} ({bl.status().hint})")
    seconds = time.perf_counter() - tick
    scene = bpy.context.scene
    frames = np.arange(scene.frame_start, scene.frame_end + 1)
    io = bl.sub("action_io")
    before = io.sample_motion(armature, original, frames)
    after = io.sample_motion(armature, armature.animation_data.action, frames)
    log.info("clean up motion: %d frames in %.1f s (%s); pose jitter %.1f -> %.1f mm/frame^2", len(frames), seconds,
             armature.animation_data.action.name, pose_jitter(before), pose_jitter(after))


def pose_jitter(sample) -> float:
    """Mean norm (mm) of the second difference of the 24 joints of a sampled action (our body, betas 0)."""
    import torch
    from server.body.fast import LandmarkSkinning
    from server.body.model import default_body_model_path, load_body_model
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    with torch.no_grad():
        joints, _ = skinning(torch.as_tensor(sample.poses, dtype=torch.float32), None,
                             torch.as_tensor(sample.transl, dtype=torch.float32))
    j = joints.numpy()
    return float(np.linalg.norm(j[:-2] - 2 * j[1:-1] + j[2:], axis=-1).mean() * 1000.0)


def _log_figures(report: dict, wall: float, processed: int, frames: int, render_seconds: float) -> None:
    """Wall time of the capture split by stage, and frames per second."""
    timings = report["timings"]
    lines = [f"capture wall time {wall:.1f} s for {processed} video frames ({processed / wall:.1f} frames/s), "
             f"person keyed on {frames} frames"]
    for stage, seconds in timings.items():     # the worker's stages in its order (place: ground and foot locking)
        lines.append(f"  {stage:<9}{seconds:7.2f} s")
    lines.append(f"  {'keyframe':<9}{report['keyframe_seconds']:7.2f} s")
    lines.append(f"  {'other':<9}{wall - sum(timings.values()) - report['keyframe_seconds']:7.2f} s "
                 "(worker start-up, model load, transfer)")
    lines.append(f"contact sheet renders: {render_seconds:.1f} s")
    log.info("figures:\n%s", "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
