"""Bad inputs against the real command line (``python -m server ...`` in a subprocess), one table row each.

Every row asserts the exit code, words of the message on stderr, that no traceback is printed, that every file in
the row's folder (the inputs, and ``old.npz``: an earlier result) is byte-identical afterwards, and that no new
file (partial result, probe) is left there. Rows marked ``no_torch`` must fail before torch is even imported
(checked with ``-X importtime``): option and path errors are found before any expensive stage.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
OLD_RESULT = b"an earlier result that a failed run must leave as it was"


def _motion(path: Path, **override: object) -> None:
    """A small result-schema motion file (cleanup's input), with any array replaced by ``override``."""
    arrays = {"poses": np.zeros((6, 24, 3), np.float32), "transl": np.zeros((6, 3), np.float32),
              "betas": np.zeros(10, np.float32), "fps": np.float32(30)}
    np.savez(path, **{**arrays, **override})


def _amass(path: Path, **override: object) -> None:
    """A small AMASS-style motion file (import-motion's input)."""
    arrays = {"poses": np.zeros((6, 72), np.float64), "trans": np.zeros((6, 3)), "betas": np.zeros(16),
              "mocap_framerate": np.float64(60)}
    np.savez(path, **{**arrays, **override})


def _calibration(size: str = "[ 320.0, 240.0]") -> str:
    """A Pose2Sim Calib.toml of two cameras; the first one's ``size`` as given."""
    text = ""
    for i, cam_size in enumerate([size, "[ 320.0, 240.0]"], start=1):
        text += (f'[cam0{i}]\nname = "cam0{i}"\nsize = {cam_size}\n'
                 "matrix = [ [ 300.0, 0.0, 160.0], [ 0.0, 300.0, 120.0], [ 0.0, 0.0, 1.0]]\n"
                 "distortions = [ 0.0, 0.0, 0.0, 0.0]\nrotation = [ 0.0, 0.0, 0.0]\n"
                 f"translation = [ {i - 1}.0, 0.0, 0.0]\nfisheye = false\n\n")
    return text + "[metadata]\nadjusted = false\nerror = 0.0\n"


def _folder(d: Path, clip: Path) -> None:
    """The files every row finds in its folder."""
    shutil.copy(clip, d / "clip.mp4")
    shutil.copy(clip, d / "clip2.mp4")
    (d / "old.npz").write_bytes(OLD_RESULT)
    _motion(d / "motion.npz")
    _amass(d / "amass.npz")
    np.savez(d / "mask.npz", confidence=np.ones((6, 24), np.float32))
    np.savez(d / "kp.npz", keypoints=np.full((6, 33, 3), 0.5, np.float32), image_size=np.array([320, 240]))
    np.savez(d / "body.npz", v_template=np.zeros((3, 3)))
    (d / "calib.toml").write_text(_calibration())
    (d / "manifest.csv").write_text("clip\nclip.mp4\n")
    (d / "a_file").write_text("a file, not a folder")


def _symlink(d: Path) -> None:
    os.symlink(d / "clip.mp4", d / "link.mp4")


def _hardlink(d: Path) -> None:
    os.link(d / "clip.mp4", d / "hard.mp4")


def _index_manifest(d: Path) -> None:
    """A manifest named like the batch index of its own output folder."""
    (d / "batch.json").write_text(json.dumps([{"clip": "clip.mp4"}]))


def _result_is_a_clip(d: Path) -> None:
    """A manifest whose clip has the name and place of that clip's own result file."""
    (d / "res").mkdir()
    shutil.copy(d / "clip.mp4", d / "res" / "take.npz")
    (d / "takes.json").write_text(json.dumps([{"clip": "res/take.npz"}]))


@dataclass(frozen=True)
class Row:
    """One bad command line: ``args`` with ``{d}`` for the row's folder -> exit ``code`` and ``words`` on stderr."""

    id: str
    args: str
    code: int
    words: str
    no_torch: bool = True                            # fails before torch is imported
    prepare: Optional[Callable[[Path], None]] = None
    slow: bool = False


def _npz_rows() -> Sequence[Row]:
    """Malformed user files: each reader turns them into its domain error (exit 2 or 11)."""
    def write(name: str, maker: Callable[..., None], **override: object) -> Callable[[Path], None]:
        return lambda d: maker(d / name, **override)

    def truncated(d: Path) -> None:
        (d / "cut.npz").write_bytes((d / "motion.npz").read_bytes()[:300])

    return [
        Row("cleanup-empty-npz", "cleanup {d}/empty.npz -o {d}/old.npz", 2, "empty.npz", False,
            lambda d: (d / "empty.npz").write_bytes(b"")),
        Row("cleanup-truncated-npz", "cleanup {d}/cut.npz -o {d}/old.npz", 2, "cut.npz", False, truncated),
        Row("cleanup-poses-strings", "cleanup {d}/bad.npz -o {d}/old.npz", 2, "poses", False,
            write("bad.npz", _motion, poses=np.array(["a", "b"]))),
        Row("cleanup-poses-shape", "cleanup {d}/bad.npz -o {d}/old.npz", 2, "poses", False,
            write("bad.npz", _motion, poses=np.zeros((6, 5)))),
        Row("cleanup-fps-string", "cleanup {d}/bad.npz -o {d}/old.npz", 2, "fps", False,
            write("bad.npz", _motion, fps=np.array("fast"))),
        Row("cleanup-betas-string", "cleanup {d}/bad.npz -o {d}/old.npz", 2, "betas", False,
            write("bad.npz", _motion, betas=np.array(["tall"]))),
        Row("cleanup-betas-shape", "cleanup {d}/bad.npz -o {d}/old.npz", 2, "betas", False,
            write("bad.npz", _motion, betas=np.zeros((2, 3, 4)))),
        Row("import-poses-strings", "import-motion {d}/bad.npz -o {d}/old.npz", 2, "poses", False,
            write("bad.npz", _amass, poses=np.array(["a", "b"]))),
        Row("import-poses-shape", "import-motion {d}/bad.npz -o {d}/old.npz", 2, "poses", False,
            write("bad.npz", _amass, poses=np.zeros((6, 5, 2)))),
        Row("import-fps-string", "import-motion {d}/bad.npz -o {d}/old.npz", 2, "mocap_framerate", False,
            write("bad.npz", _amass, mocap_framerate=np.array("sixty"))),
        Row("import-betas-string", "import-motion {d}/bad.npz -o {d}/old.npz", 2, "betas", False,
            write("bad.npz", _amass, betas=np.array(["tall"]))),
        Row("import-betas-shape", "import-motion {d}/bad.npz -o {d}/old.npz", 2, "betas", False,
            write("bad.npz", _amass, betas=np.zeros((2, 3, 4)))),
        Row("capture-calibration-size-5", "capture {d}/clip.mp4 --view {d}/clip2.mp4 --calibration {d}/size.toml "
            "-o {d}/old.npz", 11, "size", False, lambda d: (d / "size.toml").write_text(_calibration("5"))),
    ]


OVERWRITE = [
    Row("capture-o-is-video", "capture {d}/clip.mp4 -o {d}/clip.mp4", 2, "clip.mp4"),
    Row("capture-o-symlink-to-video", "capture {d}/clip.mp4 -o {d}/link.mp4", 2, "link.mp4", prepare=_symlink),
    Row("capture-o-hardlink-of-video", "capture {d}/clip.mp4 -o {d}/hard.mp4", 2, "hard.mp4", prepare=_hardlink),
    Row("capture-o-is-view", "capture {d}/clip.mp4 --view {d}/clip2.mp4 -o {d}/clip2.mp4", 2, "clip2.mp4"),
    Row("capture-o-is-calibration", "capture {d}/clip.mp4 --view {d}/clip2.mp4 --calibration {d}/calib.toml "
        "-o {d}/calib.toml", 2, "calib.toml"),
    Row("capture-o-is-body", "capture {d}/clip.mp4 --body {d}/body.npz -o {d}/body.npz", 2, "body.npz"),
    Row("capture-o-relative-path-of-video", "capture {d}/clip.mp4 -o {d}/../{name}/clip.mp4", 2, "clip.mp4"),
    Row("detect-o-is-second-video", "detect {d}/clip.mp4 {d}/clip2.mp4 -o {d}/clip2.mp4", 2, "clip2.mp4"),
    Row("refine-o-is-keypoints", "refine {d}/kp.npz -o {d}/kp.npz", 2, "kp.npz"),
    Row("refine-o-is-body", "refine {d}/kp.npz --body {d}/body.npz -o {d}/body.npz", 2, "body.npz"),
    Row("cleanup-o-is-input", "cleanup {d}/motion.npz -o {d}/motion.npz", 2, "motion.npz"),
    Row("cleanup-o-is-mask", "cleanup {d}/motion.npz --mask {d}/mask.npz -o {d}/mask.npz", 2, "mask.npz"),
    Row("import-o-is-input", "import-motion {d}/amass.npz -o {d}/amass.npz", 2, "amass.npz"),
    Row("import-o-is-body", "import-motion {d}/amass.npz --body {d}/body.npz -o {d}/body.npz", 2, "body.npz"),
    Row("people-o-is-video", "people {d}/clip.mp4 -o {d}/clip.mp4", 2, "clip.mp4"),
    Row("batch-o-is-manifest", "batch {d}/manifest.csv -o {d}/manifest.csv", 2, "manifest.csv"),
    Row("batch-index-is-manifest", "batch {d}/batch.json -o {d}", 2, "batch.json", prepare=_index_manifest),
    Row("batch-result-is-clip", "batch {d}/takes.json -o {d}/res", 2, "take.npz", prepare=_result_is_a_clip),
]

OUTPUT_PATHS = [
    Row("capture-o-is-folder", "capture {d}/clip.mp4 -o {d}", 2, "is a folder"),
    Row("capture-o-folder-missing", "capture {d}/clip.mp4 -o {d}/missing/out.npz", 2, "does not exist"),
    Row("capture-o-under-a-file", "capture {d}/clip.mp4 -o {d}/a_file/out.npz", 2, "a_file"),
    Row("detect-o-is-folder", "detect {d}/clip.mp4 -o {d}", 2, "is a folder"),
    Row("refine-o-folder-missing", "refine {d}/kp.npz -o {d}/missing/out.npz", 2, "does not exist"),
    Row("cleanup-o-is-folder", "cleanup {d}/motion.npz -o {d}", 2, "is a folder"),
    Row("import-o-under-a-file", "import-motion {d}/amass.npz -o {d}/a_file/out.npz", 2, "a_file"),
    Row("capture-o-is-dev-null", "capture {d}/clip.mp4 -o /dev/null", 2, "not a regular file"),
    Row("people-o-is-folder", "people {d}/clip.mp4 -o {d}", 2, "is a folder"),
    Row("batch-o-is-a-file", "batch {d}/clip.mp4 -o {d}/old.npz", 2, "is a file"),
    Row("batch-o-under-a-file", "batch {d}/clip.mp4 -o {d}/a_file/results", 2, "a_file"),
]

OPTIONS = [
    Row("capture-start-negative", "capture {d}/clip.mp4 -o {d}/old.npz --start -5 --end -2", 2, "--start is -5"),
    Row("capture-end-before-start", "capture {d}/clip.mp4 -o {d}/old.npz --start 10 --end 5", 2, "--end is 5"),
    Row("capture-end-minus-two", "capture {d}/clip.mp4 -o {d}/old.npz --end -2", 2, "--end is -2"),
    Row("capture-hypotheses-negative", "capture {d}/clip.mp4 -o {d}/old.npz --hypotheses -3", 2,
        "--hypotheses is -3; it must be a whole number from 0 to 8"),
    Row("capture-iterations-negative", "capture {d}/clip.mp4 -o {d}/old.npz --iterations -1", 2, "--iterations"),
    Row("capture-iterations-huge", "capture {d}/clip.mp4 -o {d}/old.npz --iterations 100000", 2, "--iterations"),
    Row("capture-temporal-nan", "capture {d}/clip.mp4 -o {d}/old.npz --temporal nan", 2, "--temporal is nan"),
    Row("capture-temporal-negative", "capture {d}/clip.mp4 -o {d}/old.npz --temporal -1", 2, "--temporal"),
    Row("capture-foot-strength-inf", "capture {d}/clip.mp4 -o {d}/old.npz --foot-strength inf", 2,
        "--foot-strength is inf"),
    Row("capture-person-minus-two", "capture {d}/clip.mp4 -o {d}/old.npz --person -2", 2, "--person is -2"),
    Row("capture-detectors-negative", "capture {d}/clip.mp4 -o {d}/old.npz --detectors -1", 2, "--detectors"),
    Row("capture-start-not-a-number", "capture {d}/clip.mp4 -o {d}/old.npz --start abc", 2, "invalid int value"),
    Row("detect-end-zero", "detect {d}/clip.mp4 -o {d}/old.npz --end 0", 2, "--end is 0"),
    Row("people-start-negative", "people {d}/clip.mp4 --start -1", 2, "--start is -1"),
    Row("refine-temporal-inf", "refine {d}/kp.npz -o {d}/old.npz --temporal inf", 2, "--temporal is inf"),
    Row("refine-hypotheses-negative", "refine {d}/kp.npz -o {d}/old.npz --hypotheses -3", 2, "--hypotheses"),
    Row("cleanup-strength-inf", "cleanup {d}/motion.npz -o {d}/old.npz --strength inf", 2, "--strength is inf"),
    Row("cleanup-strength-nan", "cleanup {d}/motion.npz -o {d}/old.npz --strength nan", 2, "--strength is nan"),
    Row("cleanup-strength-negative", "cleanup {d}/motion.npz -o {d}/old.npz --strength -5", 2,
        "--strength is -5; it must be a finite number from 0 to 2"),
    Row("batch-workers-negative", "batch {d}/clip.mp4 -o {d}/res --workers -1", 2, "--workers is -1"),
    Row("batch-retries-negative", "batch {d}/clip.mp4 -o {d}/res --retries -1", 2, "--retries is -1"),
    Row("batch-hypotheses-negative", "batch {d}/clip.mp4 -o {d}/res --hypotheses -3", 2, "--hypotheses"),
]

ROWS = OVERWRITE + OUTPUT_PATHS + OPTIONS + list(_npz_rows())


def _hashes(folder: Path) -> Dict[str, str]:
    """Every file under ``folder`` (links by their own path) -> sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(args: Sequence[str], importtime: bool = True) -> subprocess.CompletedProcess:
    """``python -m server ARGS`` from the repository root (``-X importtime``: every import on stderr)."""
    flags = ["-X", "importtime"] if importtime else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *flags, "-m", "server", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def imported_torch(stderr: str) -> bool:
    """Whether ``-X importtime``'s lines show that torch was imported."""
    return re.search(r"^import time:.*\|\s*torch$", stderr, re.MULTILINE) is not None


def messages(stderr: str) -> str:
    """stderr without ``-X importtime``'s lines."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("import time:"))


@pytest.fixture
def row_folder(tmp_path: Path, empty_video: Path) -> Path:
    folder = tmp_path / "row"
    folder.mkdir()
    _folder(folder, empty_video)
    return folder


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=[pytest.mark.slow] if r.slow else []) for r in ROWS])
def test_bad_input_is_refused_cleanly(row: Row, row_folder: Path) -> None:
    if row.prepare:
        row.prepare(row_folder)
    before = _hashes(row_folder)
    args = row.args.format(d=row_folder, name=row_folder.name).split()
    run = run_cli(args)
    text = messages(run.stderr)
    assert run.returncode == row.code, text[-1500:]
    assert row.words.lower() in text.lower(), text[-1500:]
    assert "Traceback" not in text and "Traceback" not in run.stdout, text[-3000:]
    assert _hashes(row_folder) == before, "an input or an earlier result changed, or a file was left behind"
    if row.no_torch:
        assert not imported_torch(run.stderr), "torch was imported before the check"


def test_output_in_read_only_folder_is_refused(row_folder: Path, tmp_path: Path) -> None:
    """A folder that cannot be written even by root (``chattr +i``; ``os.access`` says yes there)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:
        locked.chmod(0o555)
    elif subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a read-only folder here (chattr +i)")
    try:
        before = _hashes(row_folder)
        for args in (["capture", str(row_folder / "clip.mp4"), "-o", str(locked / "out.npz")],
                     ["batch", str(row_folder / "clip.mp4"), "-o", str(locked / "results")]):
            run = run_cli(args, importtime=False)
            assert run.returncode == 2 and "Cannot write into the folder" in run.stderr, run.stderr[-1500:]
            assert "Traceback" not in run.stderr and not list(locked.iterdir())
        assert _hashes(row_folder) == before
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(locked)], check=False)
        locked.chmod(0o755)


def test_the_import_probe_sees_torch() -> None:
    """The ``no_torch`` rows rely on this reading of ``-X importtime``."""
    assert imported_torch("import time:     57475 |    3896751 |   torch\n")
    assert not imported_torch("import time:       120 |        120 |     torch.nn\nimport time: 1 | 1 | torchvision\n")
