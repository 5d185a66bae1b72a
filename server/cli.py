"""Command-line use of the worker for scripting and batches.

    python -m server                                   # stdio JSON-lines worker (what the add-on starts)
    python -m server capture VIDEO [--view VIDEO2 ...] -o OUT.npz [--start N] [--end M] [--no-refine]
                                   [--no-place] [--no-lock-feet] [--foot-strength S] [--person K]
    python -m server people VIDEO [--start N] [--end M] [--max-people K] [-o PEOPLE.json] [--json]   # who is in it
    python -m server detect VIDEO [VIDEO2 ...] -o KEYPOINTS.npz [--person K]   # BlazePose keypoints only
    python -m server refine KEYPOINTS.npz -o OUT.npz [--mode frame|video|multiview]
    python -m server cleanup IN.npz -o OUT.npz [--strength S] [--mask MASK.npz] [--method auto|dposer|guided]
                                   [--keep-root] [--lock-feet]
    python -m server import-motion AMASS.npz -o OUT.npz [--body SMPL_FILE]   # SMPL/AMASS motion -> result file
    python -m server batch INPUT... -o OUT_DIR [--address ray://HOST:PORT | auto] [--workers N] [--redo]
                                   [capture options]   # clips, folders or manifests; needs requirements-batch.txt

Options and paths are checked before any work: the options of each command as server/options.py declares them
(every switch is --name / --no-name), the frame range and other numbers (server/checks.py), -o writable, not a
folder and none of the command's inputs.

Exit codes (docs/cli.md, "Exit codes", lists a typical cause of each): 0 done, 1 internal error (one line on
stderr and the traceback in a log under scorehmr-logs/ in the temporary folder), 2 bad request, 3 video missing,
4 video unreadable, 5 no person, 6 missing package, 7 bad body model file, 8 weights not found, 9 bad weights,
10 bad keypoints file, 11 bad calibration, 12 batch done but some clips failed (see batch.json),
130 cancelled (Ctrl+C).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from typing import Callable, Dict, List, Optional, Tuple, Type

from . import __version__
from .checks import OPTIONS, check_apart, check_options, check_output_file, check_output_folder
from .errors import EXIT_CODES, JobError
from .options import CaptureOptions, CleanupOptions, OptionError, Options, PeopleOptions, add_arguments

# The capture options of the fit alone (the refine command: no footage, so no placing or feet).
FIT_OPTIONS = ("initial", "refine", "iterations", "temporal", "hypotheses", "align", "motion_prior")

log = logging.getLogger("server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="the stdio JSON-lines worker (the default)")
    capture = commands.add_parser("capture", help="capture the motion of the person in a video")
    capture.add_argument("video", help="the footage (any format OpenCV decodes)")
    capture.add_argument("-o", "--output", required=True, help="the result .npz (schema in docs/cli.md)")
    capture.add_argument("--view", action="append", default=[], metavar="VIDEO",
                         help="another clip of the same performance, synchronised frame for frame (multi-view)")
    capture.add_argument("--calibration", default="", metavar="FILE",
                         help="multi-view: the cameras' calibration (Pose2Sim/Caliscope .toml or Qualisys .qca.txt), "
                              "one camera per clip (by name, else in order); the body is fitted in one world frame")
    _range_arguments(capture)
    _body_argument(capture)
    add_arguments(capture, CaptureOptions)
    _person_argument(capture)
    people = commands.add_parser("people", help="list the people in a video (tracks, frame spans, crossings)")
    people.add_argument("video", help="the footage (any format OpenCV decodes)")
    people.add_argument("-o", "--output", default="", help="also write the listing (JSON, see docs/cli.md)")
    people.add_argument("--json", action="store_true", help="print the listing as JSON instead of a table")
    _range_arguments(people)
    add_arguments(people, PeopleOptions)
    detect = commands.add_parser("detect", help="BlazePose keypoints of one or several synchronised clips")
    detect.add_argument("videos", nargs="+", metavar="VIDEO", help="the footage; several clips = several views")
    detect.add_argument("-o", "--output", required=True, help="the keypoints .npz (format in docs/cli.md)")
    _range_arguments(detect)
    _person_argument(detect)
    refine = commands.add_parser("refine", help="body from 2D keypoints: regression + ScoreHMR refinement")
    refine.add_argument("keypoints", help="keypoints .npz in BlazePose's 33-point format (docs/cli.md)")
    refine.add_argument("-o", "--output", required=True, help="the result .npz (schema in docs/cli.md)")
    refine.add_argument("--mode", choices=["frame", "video", "multiview"], default="video",
                        help="frame: each frame alone; video: one clip with temporal smoothing (default); "
                             "multiview: several synchronised views share the body")
    _body_argument(refine)
    add_arguments(refine, CaptureOptions, FIT_OPTIONS)
    clean = commands.add_parser("cleanup", help="denoise and complete a pose sequence with the diffusion prior")
    clean.add_argument("input", help="a pose sequence .npz in the result schema (docs/cli.md)")
    clean.add_argument("-o", "--output", required=True, help="the cleaned result .npz")
    clean.add_argument("--mask", default="", metavar="MASK.npz", help="confidence (N, 24) / (N,) / (24,) or "
                       "'joints' names: low-confidence joints are completed by the prior")
    add_arguments(clean, CleanupOptions)
    imp = commands.add_parser("import-motion", help="an SMPL/AMASS motion .npz -> a result file (for Blender)")
    imp.add_argument("input", help="AMASS/SMPL .npz: poses (N, 72|66|156|165) or root_orient + pose_body, trans, "
                     "betas, mocap_framerate")
    imp.add_argument("-o", "--output", required=True, help="the result .npz (schema in docs/cli.md)")
    imp.add_argument("--body", default="", metavar="SMPL_FILE",
                     help="official SMPL model file (.pkl or .npz); default: the built-in open body")
    _batch_arguments(commands)
    return parser


def _batch_arguments(commands: "argparse._SubParsersAction") -> None:
    batch = commands.add_parser("batch", help="capture many clips on Ray (this machine, or a cluster)")
    batch.add_argument("inputs", nargs="+", metavar="INPUT", help="clips, folders of clips (searched recursively), "
                       "or CSV/JSON manifests (clip, start, end, person, views, calibration, name; see docs/cli.md)")
    batch.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="the results: <clip>.npz and "
                       "batch.json (clip, status, frames, seconds, error)")
    batch.add_argument("--address", default="", help="a running Ray cluster ('auto' or ray://host:port); default: "
                       "start Ray on this machine")
    _numeric(batch, "workers", "N")
    _numeric(batch, "retries", "K")
    batch.add_argument("--redo", action="store_true", help="capture every clip again, even those already done")
    batch.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    _body_argument(batch)
    add_arguments(batch, CaptureOptions)


def _numeric(parser: argparse.ArgumentParser, name: str, metavar: Optional[str] = None) -> None:
    """A number a job takes beside its options, as :data:`server.checks.OPTIONS` declares it (flag, type, default,
    help)."""
    spec = OPTIONS[name]
    parser.add_argument(spec.flag, type=spec.kind, default=spec.default, metavar=metavar, help=spec.help)


def _range_arguments(parser: argparse.ArgumentParser) -> None:
    _numeric(parser, "start", "N")
    _numeric(parser, "end", "M")


def _person_argument(parser: argparse.ArgumentParser) -> None:
    _numeric(parser, "person", "K")
    _numeric(parser, "detectors", "N")


def _body_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--body", default="", metavar="SMPL_FILE",
                        help="official SMPL model file (.pkl or .npz); default: the built-in open body")


class _ProgressLog:
    """Logs progress at most every 10% per stage so the CLI stays readable on long clips."""

    def __init__(self) -> None:
        self._last: dict = {}

    def __call__(self, stage: str, done: int, total: int, message: str) -> None:
        step = max(1, total // 10)
        if done in (0, total) or done - self._last.get(stage, 0) >= step:
            self._last[stage] = done
            log.info("%-6s %4d/%-4d %s", stage, done, total, message)


def _failed(exc: BaseException) -> int:
    """Log why a job stopped (a :class:`JobError`'s or an :class:`OptionError`'s message and hint, or Ctrl+C) and
    return its exit code."""
    if not isinstance(exc, (JobError, OptionError)):
        log.error("cancelled")
        return EXIT_CODES["cancelled"]
    log.error("%s", exc.message)
    if exc.hint:
        log.error("hint: %s", exc.hint)
    return exc.exit_code if isinstance(exc, JobError) else EXIT_CODES[exc.code]


def _run_job(job: Callable[[_ProgressLog, Callable[[], bool]], Tuple[str, Dict[str, float]]]) -> int:
    """Run a job with progress logging and log what it wrote; a JobError or Ctrl+C goes on to :func:`main`, which
    maps it to its exit code."""
    stop = threading.Event()
    what, timings = job(_ProgressLog(), stop.is_set)
    log.info("wrote %s in %.1f s (%s)", what, sum(timings.values()),
             ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    return 0


def run_capture_cli(args: argparse.Namespace) -> int:
    from .jobs.capture import CaptureRequest, run_capture

    request = CaptureRequest(video=args.video, output=args.output, start=args.start, end=args.end,
                             body_model=args.body, views=tuple(args.view), person=args.person,
                             calibration=args.calibration, options=args.options,
                             detectors=args.detectors)

    def job(progress: _ProgressLog, cancelled: Callable[[], bool]) -> Tuple[str, Dict[str, float]]:
        summary = run_capture(request, progress, cancelled)
        for note in summary.notes:
            log.warning("%s", note)
        return f"{summary.path}: person in {summary.frames} of {summary.processed} frames", summary.timings
    return _run_job(job)


def run_detect_cli(args: argparse.Namespace) -> int:
    from .jobs.capture import run_detect

    def job(progress: _ProgressLog, cancelled: Callable[[], bool]) -> Tuple[str, Dict[str, float]]:
        summary = run_detect(args.videos, args.output, args.start, args.end, progress, cancelled, args.person,
                             args.detectors)
        for note in summary.notes:
            log.warning("%s", note)
        return f"{summary.path}: person in {summary.frames} of {summary.processed} frames", summary.timings
    return _run_job(job)


def run_people_cli(args: argparse.Namespace) -> int:
    """List the people: a table (or ``--json``) on stdout, the listing file with ``-o``."""
    import json

    from .jobs.people import run_people

    def job(progress: _ProgressLog, cancelled: Callable[[], bool]) -> Tuple[str, Dict[str, float]]:
        with tempfile.TemporaryDirectory() as folder:
            output = args.output or os.path.join(folder, "people.json")
            summary = run_people(args.video, output, args.start, args.end, progress, cancelled, args.options)
            with open(output, encoding="utf-8") as handle:
                listing = json.load(handle)
        sys.stdout.write(json.dumps(listing, indent=1) + "\n" if args.json else people_table(listing))
        sys.stdout.flush()
        for note in summary.notes:
            log.warning("%s", note)
        return f"{args.output or 'the listing'}: {summary.frames} people", summary.timings
    return _run_job(job)


def people_table(listing: dict) -> str:
    """The people listing as a text table (frames 0-based, as ``--start``/``--end``)."""
    rows = ["person  first  last  seen  visible  score  box (x0 y0 x1 y1) at frame"]
    for t in listing["tracks"]:
        box = " ".join(f"{v:.0f}" for v in t["box"])
        default = "  (default)" if t["id"] == listing["default"] else ""
        rows.append(f"{t['id']:>6}  {t['first_frame']:>5}  {t['last_frame']:>4}  {t['seen']:>4.0%}  "
                    f"{t['visibility']:>7.0%}  {t['score']:>5.2f}  {box} at {t['frame']}{default}")
    return "\n".join(rows) + "\n"


def run_refine_cli(args: argparse.Namespace) -> int:
    from .refine.from_keypoints import refine_file
    from .refine.pipeline import PipelineSettings

    settings = PipelineSettings.from_options(args.options, mode=args.mode)

    def job(progress: _ProgressLog, cancelled: Callable[[], bool]) -> Tuple[str, Dict[str, float]]:
        return args.output, refine_file(args.keypoints, args.output, settings, args.body, progress, cancelled)
    return _run_job(job)


def run_cleanup_cli(args: argparse.Namespace) -> int:
    from .jobs.cleanup import run_cleanup

    def job(progress: _ProgressLog, cancelled: Callable[[], bool]) -> Tuple[str, Dict[str, float]]:
        summary = run_cleanup(args.input, args.output, args.options, args.mask, progress, cancelled)
        return summary.path, summary.timings
    return _run_job(job)


def run_import_motion_cli(args: argparse.Namespace) -> int:
    from .jobs.motion_import import import_motion

    def job(progress: _ProgressLog, cancelled: Callable[[], bool]) -> Tuple[str, Dict[str, float]]:
        summary = import_motion(args.input, args.output, args.body, progress, cancelled)
        return f"{summary.path}: {summary.frames} frames", summary.timings
    return _run_job(job)


BATCH_INCOMPLETE = 12   # exit code: the batch ran, but some clips failed


def run_batch_cli(args: argparse.Namespace) -> int:
    """Batch capture: progress bars (or log lines), a summary, exit 0 when every clip is done."""
    from .jobs.batch.inputs import expand_inputs
    from .jobs.batch.runner import BatchOptions, run_batch

    capture = {"body_model": os.path.abspath(args.body) if args.body else "",
               **args.options.to_dict()}
    options = BatchOptions(address=args.address, workers=args.workers, retries=args.retries, redo=args.redo,
                           progress=args.progress)
    items = expand_inputs(args.inputs)
    _check_batch_outputs(args, items)
    with _tqdm_logging():
        summary = run_batch(items, os.path.abspath(args.output), capture, options)
    log.info("batch: %d captured, %d kept from before, %d failed in %.1f s; index %s", summary.done,
             summary.reused, summary.failed, summary.seconds, summary.index)
    for failure in summary.failures:
        log.error("failed: %s", failure)
    return BATCH_INCOMPLETE if summary.failed or summary.cancelled else 0


def _check_batch_outputs(args: argparse.Namespace, items: list) -> None:
    """No result file of the batch (``<name>.npz``, ``batch.json``) is one of its clips, views, calibrations or
    manifests."""
    from .jobs.batch.index import INDEX_NAME

    folder = os.path.abspath(args.output)
    inputs = [*args.inputs, args.body, *(path for item in items for path in (item.clip, *item.views, item.calibration))]
    check_apart([os.path.join(folder, item.output_name) for item in items] + [os.path.join(folder, INDEX_NAME)],
                inputs)


def _tqdm_logging():
    """Log lines printed above tqdm's bars (a no-op context without tqdm)."""
    import contextlib
    try:
        from tqdm.contrib.logging import logging_redirect_tqdm
    except ImportError:
        return contextlib.nullcontext()
    return logging_redirect_tqdm()


def _check_paths(args: argparse.Namespace) -> None:
    """The output can be written (not a folder, in a writable folder) and is none of the command's inputs."""
    inputs = [getattr(args, name, "") or "" for name in ("video", "keypoints", "input", "calibration", "body", "mask")]
    inputs += list(getattr(args, "view", [])) + list(getattr(args, "videos", []))
    if args.command == "batch":
        check_output_folder(args.output, [*args.inputs, *inputs])
    elif args.output or args.command != "people":
        check_output_file(args.output, inputs)


def crash_log_folder() -> str:
    """Where an unexpected error's traceback is written: ``scorehmr-logs`` in the system's temporary folder."""
    return os.path.join(tempfile.gettempdir(), "scorehmr-logs")


def _crashed(command: str, exc: Exception, argv: Optional[List[str]]) -> int:
    """An unexpected error: its traceback into a log file, ONE line on stderr saying what failed and where the
    log is -> exit code 1."""
    what = " ".join(f"{type(exc).__name__}: {exc}".split())
    what = what if len(what) <= 200 else what[:197] + "..."
    try:
        folder = crash_log_folder()
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"python -m server {' '.join(sys.argv[1:] if argv is None else argv)}\n"
                         f"server {__version__}, Python {sys.version.split()[0]}\n\n")
            handle.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        where = f"the details are in {path}"
    except OSError as error:
        where = f"the details could not be saved ({error.strerror or error})"
    log.error("%s stopped on an unexpected error (%s); %s", command, what, where)
    return EXIT_CODES["internal"]


# The options object each command builds from its arguments (checked there, before any work): ``args.options``.
COMMAND_OPTIONS: Dict[str, Type[Options]] = {"capture": CaptureOptions, "refine": CaptureOptions,
                                             "batch": CaptureOptions, "cleanup": CleanupOptions,
                                             "people": PeopleOptions}
COMMANDS: Dict[str, Callable[[argparse.Namespace], int]] = {
    "capture": run_capture_cli, "detect": run_detect_cli, "people": run_people_cli, "refine": run_refine_cli,
    "cleanup": run_cleanup_cli, "import-motion": run_import_motion_cli, "batch": run_batch_cli,
}


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line -> its exit code (module docstring). Options and paths are checked before any work;
    an unexpected error prints one line and where its traceback was saved, never the traceback itself."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = COMMANDS.get(args.command or "serve")
    if command is None:
        from .jobs.worker_loop import serve

        return serve()
    try:
        check_options(vars(args))
        options_class = COMMAND_OPTIONS.get(args.command)
        args.options = options_class.from_args(args) if options_class is not None else None
        _check_paths(args)
        return command(args)
    except (JobError, OptionError, KeyboardInterrupt) as exc:
        return _failed(exc)
    except Exception as exc:  # noqa: BLE001 - any other error becomes one line and a log file
        return _crashed(args.command, exc, argv)
