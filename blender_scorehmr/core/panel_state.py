"""What the panels say about a job, as pure functions (no bpy): stage names, one forward-only progress fraction
per job, the status lines wrapped to the sidebar's width, and which panel shows which job.

The worker reports ``done`` of ``total`` units per stage (``server.protocol.KIND_STAGES``); the panel shows one
bar for the whole job, built from stage weights (the stages' usual share of a job's time) and never moving back.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence

from ..server import protocol

STAGE_TEXT: Dict[str, str] = {
    "open": "Opening the footage", "search": "Finding people", "detect": "Detecting the person",
    "regress": "First estimate", "refine": "Refining (ScoreHMR)", "place": "Finding the ground",
    "fingers": "Fitting the fingers",
    "write": "Writing the result", "cleanup": "Cleaning up (prior)", "import": "Importing the motion",
}
# The stages' usual share of a job, in seconds of the sample clip's capture (230 frames, 2 CPU cores: open 2.8
# (the detector processes start), search 7.1, detect 8.2, regress 1.0, refine 9.1, place 0.6, write 0.1); only the
# ratios between the stages of one job kind matter.
STAGE_WEIGHT: Dict[str, float] = {
    "open": 3.0, "search": 7.0, "detect": 8.0, "regress": 1.0, "refine": 9.0, "place": 0.6, "fingers": 0.1,
    "write": 0.2,
    "cleanup": 1.0, "import": 1.0,
}
KIND_STAGE_WEIGHT: Dict[str, Dict[str, float]] = {"people": {"open": 0.2}}   # Find People only probes the clip
# Which panel shows a job kind's progress, Cancel and errors (retarget runs in Blender, not in the worker).
PANEL_OF_KIND: Dict[str, str] = {"capture": "capture", "people": "capture", "cleanup": "motion",
                                 "import_motion": "motion", "retarget": "retarget"}
PANELS = ("capture", "motion", "retarget")
STARTING = "Starting the worker"
CANCELLING = "Cancelling..."

# Blender's interface font at UI scale 1: about 7 px per character on average for mixed text; a label loses about
# 40 px to the panel's margins and an icon.
CHAR_PIXELS = 7.0
LABEL_MARGIN_PIXELS = 40.0
MIN_CHARS = 16


def panel_of(kind: str) -> str:
    """The panel (one of :data:`PANELS`) that shows a job of ``kind``; unknown kinds show in the capture panel."""
    return PANEL_OF_KIND.get(kind, "capture")


def stage_label(stage: str, done: int = 0, total: int = 0) -> str:
    """'Finding people 12/30' (no count when ``total`` is 0 or 1: a stage with one step has nothing to count)."""
    text = STAGE_TEXT.get(stage, stage.replace("_", " ").capitalize())
    return f"{text} {done}/{total}" if total > 1 else text


def overall_progress(kind: str, stage: str, done: int, total: int) -> Optional[float]:
    """The job's fraction done (0..1) when ``done`` of ``total`` units of ``stage`` are: the weights of the stages
    before it plus its own share. None for a stage the kind does not report (the caller keeps what it showed)."""
    stages = protocol.KIND_STAGES.get(kind, ())
    if stage not in stages:
        return None
    own = KIND_STAGE_WEIGHT.get(kind, {})
    weights = [own.get(s, STAGE_WEIGHT.get(s, 1.0)) for s in stages]
    index = stages.index(stage)
    part = min(1.0, max(0.0, done / total)) if total > 0 else 0.0
    return min(1.0, (sum(weights[:index]) + weights[index] * part) / sum(weights))


class JobProgress:
    """One job's progress as the panel shows it: ``fraction`` only moves forwards, ``label`` names the stage."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fraction = 0.0
        self.label = STARTING

    def update(self, stage: str, done: int, total: int) -> float:
        """Take one progress event; return the (never smaller) fraction to show."""
        value = overall_progress(self.kind, stage, done, total)
        if value is not None:
            self.fraction = max(self.fraction, value)
        self.label = stage_label(stage, done, total)
        return self.fraction


def chars_per_line(region_width: float, ui_scale: float = 1.0) -> int:
    """How many characters of label text fit on one line of a sidebar ``region_width`` pixels wide at
    ``ui_scale`` (Blender's Preferences > Interface > Resolution Scale; region widths are already scaled)."""
    scale = max(ui_scale, 0.1)
    usable = region_width - LABEL_MARGIN_PIXELS * scale
    return max(MIN_CHARS, int(usable / (CHAR_PIXELS * scale)))


def wrap_status(text: str, width: int) -> List[str]:
    """``text`` as lines of at most ``width`` characters: each '; '-separated part (the composer puts the most
    important part first) starts a line of its own and wraps at spaces; an over-long word (a path) is split after
    a '/' where it can be."""
    width = max(1, width)
    lines: List[str] = []
    for part in (p.strip() for p in text.split("; ")):
        line = ""
        for word in part.split():
            for index, piece in enumerate(_word_pieces(word, width)):
                glue = " " if line and index == 0 else ""
                if len(line) + len(glue) + len(piece) > width and line:
                    lines.append(line)
                    line, glue = "", ""
                line += glue + piece
        if line:
            lines.append(line)
    return lines


def _word_pieces(word: str, width: int) -> List[str]:
    """``word`` whole when it fits on a line, else cut after its '/'s (and hard at ``width`` where none is)."""
    if len(word) <= width:
        return [word]
    pieces: List[str] = []
    for chunk in re.findall(r"[^/]*/|[^/]+$", word):
        pieces.extend(chunk[k:k + width] for k in range(0, len(chunk), width))
    return pieces


def camera_height_text(height: float) -> str:
    """'camera 1.50 m above the ground' (a negative height: 'camera 0.13 m below the ground')."""
    side = "below" if height < 0 else "above"
    return f"camera {abs(height):.2f} m {side} the ground"


def join_status(parts: Sequence[str]) -> str:
    """Status parts in order of importance, as one line the panel wraps part by part (see :func:`wrap_status`)."""
    return "; ".join(p for p in parts if p)
