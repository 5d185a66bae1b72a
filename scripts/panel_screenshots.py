"""Screenshots of the ScoreHMR panels in each job state, in a real Blender 4.3 window under Xvfb (not a test).

Needs root and /work/shared/tools/gui/ (or ``--tools``): ``setup_chroot.sh`` builds a Debian trixie chroot with
Blender 4.3, Xvfb, xdotool and ImageMagick (first run only, a few minutes, needs Debian's package archive);
``shot.sh`` starts Blender in it with the extension zip installed, runs a setup script, clicks the ScoreHMR tab and
saves a screenshot. The setup script written here puts the panels in one state each through the add-on's own
bridge with a scripted job (no worker process: each shot shows exactly one state), then prints SETUP_DONE.

    python3 build.py build
    sudo python3 scripts/panel_screenshots.py --root /tmp/gui-root --out docs/images [--states idle detect ...]

Writes ``panel_<state>.png`` per state, cropped to the sidebar (``--crop X,Y,W,H`` of the 1600x1000 screen); with
``--montage NAME`` only ``NAME.png`` instead: the states side by side, scaled down (the user guide's picture).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("panel_screenshots")

LONG_ERROR = ("The worker stopped unexpectedly (exit code 1). RuntimeError: could not open the file "
              "/home/animator/projects/take_042_final.mp4 for reading")
DONE_TEXT = ("Keyed ScoreHMR_Armature (Person 2); camera 0.13 m below the ground; Person 2 crosses Person 1 at "
             "frames 81-96; check the result there")
# state -> (job kind or "", [(stage, done, total, message)], what happens after the events)
STATES = {
    "idle": ("", [], ""),
    "search": ("capture", [("open", 1, 1, "1920x1080 @ 29.97 fps"), ("search", 12, 30,
                                                                     "looking for people: frame 12 of 30")], ""),
    "detect": ("capture", [("open", 1, 1, ""), ("search", 30, 30, ""),
                           ("detect", 120, 230, "2 detectors, about 9 s left")], ""),
    "refine": ("capture", [("detect", 230, 230, ""), ("regress", 1, 1, ""), ("refine", 8, 26, "iteration 1 of 2")],
               ""),
    "cancelling": ("capture", [("detect", 120, 230, "2 detectors, about 9 s left")], "cancel"),
    "cancelled": ("capture", [("detect", 120, 230, "")], "cancelled"),
    "failed": ("capture", [("detect", 12, 230, "")], "failed"),
    "done": ("capture", [("write", 1, 1, "")], "done"),
    "cleanup": ("cleanup", [("cleanup", 12, 40, "")], ""),
    "body": ("", [], "body"),   # --body-result imported, its Body Shape sliders moved (male, 15 cm taller)
}

SETUP = '''
import importlib, sys
import bpy

STATE, KIND, EVENTS, AFTER = {state!r}, {kind!r}, {events!r}, {after!r}
LONG_ERROR, DONE_TEXT = {long_error!r}, {done_text!r}


class ScriptedClient:
    """Hands the bridge the scripted events; no worker process."""
    outcome = None
    returncode = None

    def __init__(self, events):
        self.queued = list(events)

    def poll(self):
        events, self.queued = self.queued, []
        return events

    def cancel(self):
        pass

    def close(self):
        pass


def setup():
    name = next(m for m in sys.modules if m.startswith("bl_ext.") and m.endswith(".blender_scorehmr"))
    bridge = importlib.import_module(name + ".bridge")
    protocol = importlib.import_module(name + ".server.protocol")
    wc = importlib.import_module(name + ".core.worker_client")
    errors = importlib.import_module(name + ".core.panel_errors")
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.spaces[0].show_region_ui = True
                sidebar = next(r for r in area.regions if r.type == "UI")
                try:   # the ScoreHMR tab (shot.sh clicks it too)
                    sidebar.active_panel_category = "ScoreHMR"
                except (AttributeError, TypeError) as exc:
                    print("cannot switch the sidebar tab:", exc, flush=True)
    if KIND:
        job = bridge.activate(bridge.WorkerJob(ScriptedClient(
            [protocol.Progress(job_id="shot", stage=s, done=d, total=t, message=m) for s, d, t, m in EVENTS]),
            None, KIND))
        bridge.pump(job)
        if AFTER == "cancel":
            bridge.request_cancel()
        elif AFTER == "cancelled":
            bridge.end_job(job, error=bridge.as_error(wc.WorkerFailure("cancelled", "Capture cancelled."), KIND))
        elif AFTER == "failed":
            bridge.end_job(job, error=errors.ScoreHMRError(LONG_ERROR, "See the system console for the worker's "
                                                           "log", "worker_crashed"))
        elif AFTER == "done":
            arm = bpy.data.objects.new("ScoreHMR_Armature", bpy.data.armatures.new("ScoreHMR_Armature"))
            bpy.context.scene.collection.objects.link(arm)
            job.subject = arm.name
            bridge.end_job(job, text=DONE_TEXT)
    if AFTER == "body":
        bpy.context.preferences.view.ui_scale = 0.8   # the Body Shape panel fits below Motion Capture
        bpy.ops.scorehmr.import_results(filepath="/job/body.npz", match_camera=False, scene_start=1)
        arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
        bpy.context.view_layer.objects.active = arm
        arm.scorehmr_shape.gender = 0.0
        arm.scorehmr_shape.height = arm.scorehmr_shape.height + 0.15
        bpy.context.scene.frame_set(40)
    print("SETUP_DONE", STATE, flush=True)
    return None


bpy.app.timers.register(setup, first_interval=1.0)
'''


def setup_script(state: str, folder: Path) -> Path:
    """The Blender-side script that puts the panels in ``state``."""
    kind, events, after = STATES[state]
    path = folder / f"setup_{state}.py"
    path.write_text(SETUP.format(state=state, kind=kind, events=events, after=after, long_error=LONG_ERROR,
                                 done_text=DONE_TEXT))
    return path


def convert(images: list, args: list, target: Path, chroot: Path) -> None:
    """ImageMagick's ``convert images... args... target`` run in the chroot (images copied in, the result out)."""
    names = []
    for index, image in enumerate(images):
        shutil.copy(image, chroot / "job" / f"in{index}.png")
        names.append(f"/job/in{index}.png")
    subprocess.run(["chroot", str(chroot), "convert", *names, *args, "/job/out.png"], check=True)
    shutil.copy(chroot / "job" / "out.png", target)


def crop(source: Path, target: Path, box: str, chroot: Path) -> None:
    """Cut ``box`` (X,Y,W,H) out of the screenshot."""
    x, y, w, h = (int(v) for v in box.split(","))
    convert([source], ["-crop", f"{w}x{h}+{x}+{y}", "+repage", "-strip"], target, chroot)


def montage(images: list, target: Path, chroot: Path, scale: int = 70) -> None:
    """``images`` side by side at ``scale`` percent, as one PNG."""
    convert(images, ["+append", "-resize", f"{scale}%", "-strip", "-colors", "128"], target, chroot)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("/tmp/gui-root"), help="the chroot (built if missing)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--zip", type=Path, help="the extension zip (default: the newest in dist/)")
    parser.add_argument("--tools", type=Path, default=Path("/work/shared/tools/gui"))
    parser.add_argument("--states", nargs="*", default=list(STATES), choices=list(STATES))
    parser.add_argument("--crop", default="1035,80,290,825", help="X,Y,W,H of the sidebar; empty: whole screen")
    parser.add_argument("--montage", default="", help="write only NAME.png: the states side by side")
    parser.add_argument("--body-result", type=Path, default=None,
                        help="a capture result with a body (the 'body' state imports it)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    zips = [args.zip] if args.zip else sorted((ROOT / "dist").glob("blender_scorehmr-*.zip"),
                                              key=lambda p: p.stat().st_mtime)
    if not zips or not zips[-1].is_file():
        log.error("no extension zip: run python3 build.py build first (or pass --zip)")
        return 2
    if not (args.root / "usr" / "bin" / "blender").exists():
        log.info("building the chroot at %s (a few minutes)", args.root)
        subprocess.run(["bash", str(args.tools / "setup_chroot.sh"), str(args.root)], check=True)
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / ".shots"
    work.mkdir(exist_ok=True)
    for state in args.states:
        if state == "body":
            if args.body_result is None:
                log.error("the body state needs --body-result (a capture's .npz)")
                return 2
            shutil.copy(args.body_result, args.root / "job" / "body.npz")
        full = work / f"full_{state}.png"
        subprocess.run(["bash", str(args.tools / "shot.sh"), str(zips[-1]), str(setup_script(state, work)),
                        str(full), str(args.root)], check=True)
        target = (work if args.montage else args.out) / f"panel_{state}.png"
        if args.crop:
            crop(full, target, args.crop, args.root)
        else:
            shutil.copy(full, target)
        log.info("%s: %s (%d bytes)", state, target, target.stat().st_size)
    if args.montage:
        target = args.out / f"{args.montage}.png"
        montage([work / f"panel_{state}.png" for state in args.states], target, args.root)
        log.info("montage: %s (%d bytes)", target, target.stat().st_size)
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
