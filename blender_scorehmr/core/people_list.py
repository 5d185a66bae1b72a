"""The people list of the capture panel (no worker I/O): which footage and range a listing belongs to, the picked
person's Submit fields and crossing note, and filling the list from the worker's ``people.json``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Tuple

from .panel_errors import ScoreHMRError


def people_key(video: str, start: int, end: int) -> str:
    """What a people list belongs to: the footage and the frame range (0-based, end exclusive or -1)."""
    return f"{video}|{start}|{end}"


def source_range(settings) -> Tuple[int, int]:
    """The panel's frame range as 0-based ``start``, exclusive ``end`` (-1: to the end)."""
    return (0, -1) if settings.use_whole_clip else (settings.video_start - 1, settings.video_end)


def people_listed(settings, video: str, start: int, end: int) -> bool:
    """True when the people list was made for this footage and range (else it is ignored)."""
    return len(settings.people) > 0 and settings.people_key == people_key(video, start, end)


def _selected_person(settings, video: str, start: int, end: int):
    if not people_listed(settings, video, start, end) or not 0 <= settings.people_index < len(settings.people):
        return None
    return settings.people[settings.people_index]


def chosen_person(settings, video: str, start: int, end: int) -> Dict[str, Any]:
    """The Submit fields of the person picked in a valid people list; none (the worker's default: the most visible
    person) when there is no list, it is for other footage or range, or it holds one person."""
    person = _selected_person(settings, video, start, end)
    if person is None or len(settings.people) < 2:
        return {}
    return {"person": int(person.track_id), "person_boxes": json.loads(person.boxes or "[]")}


def selected_person_note(settings, video: str, start: int, end: int) -> str:
    """The crossing warning of the picked person (empty when none)."""
    person = _selected_person(settings, video, start, end)
    return person.crossing if person is not None else ""


def fill_people(settings, listing_path: Path, key: str) -> int:
    """Fill the people list from the worker's ``people.json``; select the default person; return how many.
    Raise ScoreHMRError (the list unchanged) on a file that is not a listing."""
    try:
        listing = json.loads(Path(listing_path).read_text(encoding="utf-8"))
        rows = [(int(t["id"]), int(t["first_frame"]), int(t["last_frame"]), float(t["seen"]),
                 json.dumps(t["boxes"]), _crossing_text(t)) for t in listing["tracks"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ScoreHMRError(f"The people listing could not be read: {exc}", "Press Find People again",
                            "bad_result") from exc
    settings.people.clear()
    for track_id, first, last, seen, boxes, crossing in rows:
        item = settings.people.add()
        item.track_id, item.first_frame, item.last_frame, item.seen = track_id, first, last, seen
        item.boxes, item.crossing = boxes, crossing
    settings.people_key = key
    ids = [row[0] for row in rows]
    settings.people_index = ids.index(listing.get("default")) if listing.get("default") in ids else 0
    return len(rows)


def _crossing_text(track: dict) -> str:
    """Panel text (1-based frames) for the crossings of one listed person."""
    parts = [f"Person {c['other']} at frames {c['first_frame'] + 1}-{c['last_frame'] + 1}"
             for c in track.get("crossings", [])]
    return ("Crosses " + ", ".join(parts) + "; check the result there") if parts else ""
