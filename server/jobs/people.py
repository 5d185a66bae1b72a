"""The ``people`` job: list everyone in a clip's range into ``people.json`` (format in
:mod:`server.detection.listing`)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Dict, List

from .. import video
from ..detection.listing import CancelFn, ProgressFn, discover
from ..detection.people_tracks import PeopleConfig
from ..errors import JobError
from ..files import write_json
from ..options import PeopleOptions


@dataclass
class PeopleSummary:
    """What the ``people`` job reports: the listing path, the number of people, seconds per stage, notes (crossings)."""

    path: str
    frames: int
    processed: int
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


def run_people(video_path: str, output: str, start: int, end: int, progress: ProgressFn,
               cancelled: CancelFn, options: PeopleOptions = PeopleOptions()) -> PeopleSummary:
    """The ``people`` job: list everyone in the range into ``output`` (JSON, format in the module docs), looking
    for at most ``options.max_people`` in a frame."""
    timings = {"open": 0.0, "decode": 0.0, "detect": 0.0, "write": 0.0}
    tick = time.perf_counter()
    progress("open", 0, 1, os.path.basename(video_path))
    info = video.probe(video_path)
    first, stop = video.resolve_range(info, start, end)
    timings["open"] = time.perf_counter() - tick
    progress("open", 1, 1, f"{info.width}x{info.height}, frames {first}..{stop - 1}")
    listing = discover(info, first, stop, progress, cancelled, timings,
                       config=replace(PeopleConfig(), max_people=options.max_people))
    if not listing.tracks:
        raise JobError("no_person", f"No person was found in frames {first}..{stop - 1} of {info.path}.",
                       "Check the frame range, or use footage where the whole body is visible.")
    tick = time.perf_counter()
    progress("write", 0, 1, "")
    payload = listing.to_json()
    write_json(output, payload)
    timings["write"] = time.perf_counter() - tick
    progress("write", 1, 1, "")
    return PeopleSummary(path=os.path.abspath(output), frames=len(listing.tracks), processed=stop - first,
                         timings=timings, notes=list(payload["messages"]))
