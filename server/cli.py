"""Command-line use of the worker for scripting and batches.

    python -m server                                   # stdio JSON-lines worker (what the add-on starts)
    python -m server capture VIDEO -o OUT.npz [--start N] [--end M]

Exit codes: 0 done, 1 internal error, 2 bad request, 3 video missing, 4 video unreadable, 5 no person,
6 missing package, 7 bad body model file, 8 weights not found, 9 bad weights,
130 cancelled (Ctrl+C).
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import List, Optional

from . import __version__
from .errors import EXIT_CODES, JobError

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
    capture.add_argument("-o", "--output", required=True, help="the result .npz (schema in the README)")
    capture.add_argument("--start", type=int, default=0, help="first video frame, 0-based (default 0)")
    capture.add_argument("--end", type=int, default=-1, help="stop before this frame (default: the end)")
    capture.add_argument("--body", default="", metavar="SMPL_FILE",
                         help="official SMPL model file (.pkl or .npz); default: the built-in open body")
    return parser


class _ProgressLog:
    """Logs progress at most every 10% per stage so the CLI stays readable on long clips."""

    def __init__(self) -> None:
        self._last: dict = {}

    def __call__(self, stage: str, done: int, total: int, message: str) -> None:
        step = max(1, total // 10)
        if done in (0, total) or done - self._last.get(stage, 0) >= step:
            self._last[stage] = done
            log.info("%-6s %4d/%-4d %s", stage, done, total, message)


def run_capture_cli(args: argparse.Namespace) -> int:
    from .capture import CaptureRequest, run_capture

    stop = threading.Event()
    request = CaptureRequest(video=args.video, output=args.output, start=args.start, end=args.end,
                             body_model=args.body)
    try:
        summary = run_capture(request, _ProgressLog(), stop.is_set)
    except JobError as exc:
        log.error("%s", exc.message)
        if exc.hint:
            log.error("hint: %s", exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("cancelled")
        return EXIT_CODES["cancelled"]
    total = sum(summary.timings.values())
    log.info("wrote %s: person in %d of %d frames, %.1f s (%s)", summary.path, summary.frames, summary.processed,
             total, ", ".join(f"{k} {v:.2f}s" for k, v in summary.timings.items()))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "capture":
        return run_capture_cli(args)
    from .worker_loop import serve

    return serve()
