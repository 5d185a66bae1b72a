#!/usr/bin/env python3
"""The one entry point of the project: set up, test, demo, build the extension zip, validate it.

    python3 build.py demo       # sets up whatever is missing, then captures the sample clip in Blender
    python3 build.py test       # sets up whatever is missing, then runs the test suite

Other commands: ``setup`` (the ``.venv`` with pinned packages and the sample footage), ``build`` (the
extension zip with the worker bundled inside, in ``dist/``), ``validate`` (Blender's own validator on it),
``stage`` (the add-on folder as Blender would install it, in ``build/addon``), ``train-prior`` (unpack the
mocap archive from ../shared into the cache, build the pose dataset, train the diffusion prior into
``server/assets/weights/prior.pt``; extra arguments go to the trainer, e.g. ``--minutes 45``; by default ``--steps`` of the shipped run),
``train-regressor`` (the same data, the initial-estimate regressor into ``server/assets/weights/regressor.pt``),
``train-temporal`` (the temporal regressor on windows of the same data, on top of the shipped per-frame regressor,
into ``server/assets/weights/temporal_regressor.pt``), ``train-motion`` (the motion prior, a diffusion model over
windows of poses, into ``server/assets/weights/motion_prior.pt``), ``train-dual`` (the dual motion model, initial
estimate and clip prior in one, into ``server/assets/weights/dual_motion.pt``),
``benchmark`` (the refinement benchmarks on synthetic held-out subjects and on the real Sports2D and Pose2Sim clips).

Runs on the system Python (3.11) with the standard library only; everything else runs inside ``.venv``.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
ADDON_ID = "blender_scorehmr"
STAGE_DIR = ROOT / "build" / "addon"
DIST_DIR = ROOT / "dist"
REQUIREMENTS = ROOT / "requirements-dev.txt"
SAMPLE_WHEEL = "sports2d==0.8.34"
SAMPLE_MEMBER = "Sports2D/Demo/demo.mp4"

log = logging.getLogger("build")


def cache_dir() -> Path:
    """Where fetched footage lives: ``$SCOREHMR_CACHE`` or ``~/.cache/blender_scorehmr``."""
    env = os.environ.get("SCOREHMR_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / ADDON_ID
    return base.resolve()


def sample_video() -> Path:
    """The Sports2D demo clip (a man jumping on a roof and a woman walking past, 230 frames) in the cache."""
    return cache_dir() / "footage" / "sports2d_demo.mp4"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(cmd: list, **kwargs) -> None:
    log.info("$ %s", " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def _requirements_digest() -> str:
    text = REQUIREMENTS.read_text() + "".join((ROOT / "server" / name).read_text()
                                               for name in ("requirements.txt", "requirements-batch.txt"))
    return hashlib.sha256(text.encode()).hexdigest()


def setup() -> None:
    """Create ``.venv`` with the pinned packages (once per requirements change) and fetch the footage."""
    stamp = VENV / ".scorehmr-requirements"
    if not venv_python().exists():
        _run([sys.executable, "-m", "venv", VENV])
    if not stamp.exists() or stamp.read_text() != _requirements_digest():
        _run([venv_python(), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", REQUIREMENTS])
        stamp.write_text(_requirements_digest())
    else:
        log.info("packages in %s are up to date", VENV)
    fetch_sample()


def fetch_sample() -> Path:
    """Fetch the sample clip out of the ``sports2d`` wheel into the cache (never into the repository)."""
    target = sample_video()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _run([venv_python(), "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
              SAMPLE_WHEEL, "-d", tmp])
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive, archive.open(SAMPLE_MEMBER) as src:
            partial = target.with_suffix(".part")
            with open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(target)
    log.info("sample footage: %s", target)
    return target


MULTIVIEW_WHEEL = "pose2sim==0.10.49"
# The wheel ships the demo's calibration only as Calib.qca.txt (no Pose2Sim Calib*.toml; checked in 0.10.49).
MULTIVIEW_MEMBERS = {f"Pose2Sim/Demo_SinglePerson/{member}": Path(member).name for member in
                     ("videos/cam01.mp4", "videos/cam02.mp4", "videos/cam03.mp4", "videos/cam04.mp4",
                      "calibration/Calib.qca.txt")}


# The multi-person demo: another performance in the same room, four calibrated views; the clip the hands stage's
# settings are chosen on (scripts/benchmark_hands.py --tuning), kept apart from the single-person demo it is scored on.
TUNING_DEMO = "Demo_MultiPerson"


def multiview_dir(demo: str = "Demo_SinglePerson") -> Path:
    """A Pose2Sim demo (four calibrated 60 fps views of one performance) in the cache."""
    return cache_dir() / "footage" / ("pose2sim" if demo == "Demo_SinglePerson" else "pose2sim_multi")


def fetch_multiview(demo: str = "Demo_SinglePerson") -> Path:
    """Fetch a demo's four Pose2Sim views and their calibration out of the ``pose2sim`` wheel into the cache."""
    target = multiview_dir(demo)
    members = {member.replace("Demo_SinglePerson", demo): name for member, name in MULTIVIEW_MEMBERS.items()}
    if all((target / name).exists() for name in members.values()):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _run([venv_python(), "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
              MULTIVIEW_WHEEL, "-d", tmp])
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as archive:
            for member, name in members.items():
                with archive.open(member) as src, open(target / (name + ".part"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                (target / (name + ".part")).replace(target / name)
    log.info("multi-view footage: %s", target)
    return target


def benchmark(extra: list) -> int:
    """The benchmarks: refinement on synthetic held-out subjects (needs the pose dataset), the real clips (and each
    Pose2Sim view alone against the four views' triangulation), the hands stage and finger fit (Pose2Sim views and
    Sports2D), the body's stature from each Pose2Sim view against the calibrated four-view capture, keyframe cleanup and foot locking on held-out mocap
    clips, the capture's world placement (synthetic cameras and the Sports2D clip), the camera's rotation and the body's
    world motion on the Sports2D and Pose2Sim clips seen by a turning virtual camera, the capture's speed against decoding
    and plain BlazePose (the Sports2D clip and 4x / 16x clips made from it), batch capture with 1 and 2 local Ray
    workers on 4 copies of the Sports2D clip, and Blender's keying of long results. ``extra`` goes to benchmark_refine.py."""
    dataset = pose_dataset()
    fetch_multiview()
    fetch_multiview(TUNING_DEMO)
    env = {**os.environ, "SCOREHMR_CACHE": str(cache_dir())}
    code = subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_refine.py"), "--dataset",
                           str(dataset), *extra], cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_real.py"),
                                   "--sample", str(sample_video())],
                                  cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_pose2sim.py"),
                                   "--multiview", str(multiview_dir()), "--threads", "1"], cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_hands.py"), "--multiview",
                                   str(multiview_dir()), "--sample", str(sample_video()), "--tuning",
                                   str(multiview_dir(TUNING_DEMO))], cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_stature.py"), "--multiview",
                                   str(multiview_dir()), "--dataset", str(dataset)], cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_cleanup.py"), "--dataset",
                                   str(dataset), "--threads", "1"], cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_feet.py"), "--dataset",
                                   str(dataset), "--threads", "1"], cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_place.py"), "--dataset",
                                   str(dataset), "--threads", "1", "--sample", str(sample_video()), "--person", "1",
                                   "--person", "2"],
                                  cwd=ROOT, env=env).returncode
    for camera_script in ("benchmark_camera.py", "benchmark_camera_world.py"):
        code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / camera_script), "--sample",
                                       str(sample_video()), "--pose2sim", str(multiview_dir() / "cam01.mp4")],
                                      cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_speed.py"), "--sample",
                                   str(sample_video())], cwd=ROOT, env=env).returncode
    code = code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_batch.py"), "--sample",
                                   str(sample_video())], cwd=ROOT, env=env).returncode
    return code or subprocess.run([str(venv_python()), str(ROOT / "scripts" / "benchmark_keys.py")], cwd=ROOT,
                                  env=env).returncode


TRAINING_PACKAGES = ("train", "data")   # server/ packages that only make the shipped networks: not in the zip


def stage(dest: Path = STAGE_DIR) -> Path:
    """Assemble the add-on as Blender installs it: ``blender_scorehmr/`` + manifest + bundled ``server/`` (its
    runtime code only: without :data:`TRAINING_PACKAGES`)."""
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")

    def runtime_only(folder: str, names: list) -> set:
        skip = set(ignore(folder, names))
        return skip | set(TRAINING_PACKAGES) & set(names) if Path(folder) == ROOT / "server" else skip
    shutil.copytree(ROOT / ADDON_ID, dest, ignore=ignore)
    shutil.copytree(ROOT / "server", dest / "server", ignore=runtime_only)
    shutil.copy2(ROOT / "blender_manifest.toml", dest / "blender_manifest.toml")
    shutil.copy2(ROOT / "LICENSE", dest / "LICENSE")
    return dest


def blender_ext_tool() -> Path:
    """Blender's own extension command-line tool, shipped inside the bpy module."""
    out = subprocess.run(
        [str(venv_python()), "-c", "import bpy, os; print(os.path.dirname(bpy.__file__))"],
        check=True, capture_output=True, text=True,
        env={**os.environ, **_blender_env()},
    ).stdout.strip().splitlines()[-1]
    # bpy.__file__ is .../bpy/<version>/scripts/modules/bpy/__init__.py; the tool sits beside modules/.
    tools = sorted(Path(out).parents[1].glob("addons_core/bl_pkg/cli/blender_ext.py"))
    if not tools:
        raise SystemExit(f"Blender's extension tool was not found under {out}")
    return tools[-1]


def _blender_env() -> dict:
    """Keep headless Blender's user folders out of the user's home."""
    base = Path(tempfile.gettempdir()) / "scorehmr-blender-user"
    return {"BLENDER_USER_RESOURCES": str(base / "resources"), "XDG_CACHE_HOME": str(base / "cache")}


def build() -> Path:
    """Build ``dist/blender_scorehmr-<version>.zip`` with Blender's tool from the staged folder."""
    src = stage()
    DIST_DIR.mkdir(exist_ok=True)
    _run([venv_python(), blender_ext_tool(), "build", "--source-dir", src, "--output-dir", DIST_DIR])
    zips = sorted(DIST_DIR.glob(f"{ADDON_ID}-*.zip"), key=lambda p: p.stat().st_mtime)
    return zips[-1]


def validate() -> None:
    """Run Blender's validator on the staged folder and on the built zip."""
    package = build()
    tool = blender_ext_tool()
    _run([venv_python(), tool, "validate", STAGE_DIR])
    _run([venv_python(), tool, "validate", package])


def typed_paths() -> list:
    """What the static type check reads: ``server/`` and the add-on's modules that do not import bpy (its ``core/``
    package, and the package's ``__init__``, which imports bpy only inside its functions)."""
    return ["server", f"{ADDON_ID}/core", f"{ADDON_ID}/__init__.py"]


def typecheck() -> int:
    """mypy (pinned in requirements-dev.txt, settings in mypy.ini) on :func:`typed_paths`; 0 when clean."""
    return subprocess.run([str(venv_python()), "-m", "mypy", "--config-file", "mypy.ini", *typed_paths()],
                          cwd=ROOT).returncode


def test(pytest_args: list) -> int:
    """The static type check, then the test suite (extra arguments go to pytest)."""
    setup()
    if typecheck() != 0:
        log.error("the type check failed (mypy, above): fix it before the tests run")
        return 1
    env = {**os.environ, "SCOREHMR_SAMPLE_VIDEO": str(sample_video())}
    return subprocess.run([str(venv_python()), "-m", "pytest", "tests", *pytest_args], cwd=ROOT, env=env).returncode


MOCAP_ARCHIVE = ROOT.parent / "shared" / "data" / "mocap" / "mocap.tar.xz"
PRIOR_STEPS = 46003  # the shipped checkpoint's run (30.5 minutes on the 2-core CPU): --steps reproduces it exactly


REGRESSOR_STEPS = 12000  # the shipped regressor's run, on two threads (see regressor.json for its minutes)
TEMPORAL_STEPS = 3000    # the shipped temporal regressor's run, on two threads (temporal_regressor.json)
MOTION_STEPS = 5000      # the shipped motion prior's run, on two threads (motion_prior.json)
DUAL_STEPS = 2500        # the shipped dual motion model's run, on two threads (dual_motion.json)


def pose_dataset() -> Path:
    """The pose dataset built from the mocap archive (unpacked and built once into the cache)."""
    setup()
    mocap = cache_dir() / "mocap"
    if not (mocap / "index.tsv").exists():
        if not MOCAP_ARCHIVE.exists():
            raise SystemExit(f"the mocap archive is missing: {MOCAP_ARCHIVE}")
        _run(["tar", "xJf", MOCAP_ARCHIVE, "-C", cache_dir()])
    dataset = cache_dir() / "pose_dataset.npz"
    if not dataset.exists():
        _run([venv_python(), "-m", "server.data.build_dataset", "--mocap", mocap, "--out", dataset], cwd=ROOT)
    return dataset


def train(module: str, weights: str, default_steps: int, threads: int, extra: list) -> int:
    """Train ``server.train.<module>`` on the pose dataset into ``server/assets/weights/<weights>``; the trainer's
    own log shows progress. Without extra arguments it repeats the shipped run (``--steps``)."""
    dataset = pose_dataset()
    args = extra or ["--steps", str(default_steps), "--threads", str(threads)]
    return subprocess.run([str(venv_python()), "-m", f"server.train.{module}", "--dataset", str(dataset),
                           "--out", str(ROOT / "server" / "assets" / "weights" / weights), *args],
                          cwd=ROOT).returncode


def demo(extra: list) -> int:
    setup()
    env = {**os.environ, **_blender_env(), "SCOREHMR_SAMPLE_VIDEO": str(sample_video())}
    cmd = [str(venv_python()), str(ROOT / "scripts" / "demo.py"), "--video", str(sample_video()),
           "--out", str(ROOT / "demo_out"), *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def main(argv: list) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["setup", "test", "demo", "build", "validate", "stage", "train-prior",
                                            "train-regressor", "train-temporal", "train-motion", "train-dual",
                                            "benchmark"])
    args, rest = parser.parse_known_args(argv)
    if args.command == "setup":
        setup()
    elif args.command == "test":
        return test(rest)
    elif args.command == "demo":
        return demo(rest)
    elif args.command == "train-prior":
        return train("prior", "prior.pt", PRIOR_STEPS, 2, rest)
    elif args.command == "benchmark":
        return benchmark(rest)
    elif args.command == "train-regressor":
        return train("regressor", "regressor.pt", REGRESSOR_STEPS, 2, rest)
    elif args.command == "train-temporal":
        return train("temporal_regressor", "temporal_regressor.pt", TEMPORAL_STEPS, 2, rest)
    elif args.command == "train-motion":
        return train("motion_prior", "motion_prior.pt", MOTION_STEPS, 2, rest)
    elif args.command == "train-dual":
        return train("dual_motion", "dual_motion.pt", DUAL_STEPS, 2, rest)
    elif args.command == "stage":
        print(stage())
    else:
        setup()
        if args.command == "build":
            print(build())
        else:
            validate()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
