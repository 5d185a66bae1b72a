"""Command: build the pooled SMPL pose dataset from the unpacked mocap archive.

    python -m server.data.build_dataset --mocap ~/.cache/blender_scorehmr/mocap \
        [--out ~/.cache/blender_scorehmr/pose_dataset.npz]

The output lives in the cache, never in the repository (the archive's licence terms and the project's rules).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .dataset import build_pose_dataset, default_cache_dir, save_pose_dataset, summarize

log = logging.getLogger("server.data.build_dataset")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.data.build_dataset", description=__doc__.splitlines()[0])
    parser.add_argument("--mocap", type=Path, default=default_cache_dir() / "mocap",
                        help="the unpacked archive folder (holds index.tsv)")
    parser.add_argument("--out", type=Path, default=default_cache_dir() / "pose_dataset.npz")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    data = build_pose_dataset(args.mocap.expanduser())
    path = save_pose_dataset(data, args.out.expanduser())
    for line in summarize(data):
        log.info("%s", line)
    log.info("wrote %s in %.1f s", path, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
