"""The lens's focal length in pixels: a 35 mm-equivalent focal length (the user's, or the video's own metadata) on
the frame's diagonal, else the worker's stated default ``max(width, height)`` pixels (stdlib + numpy).

A 35 mm-equivalent focal length is defined on the diagonal (a full-frame 36 x 24 mm sensor's is 43.27 mm), so it
holds for any aspect ratio: ``f_px = f_mm * diagonal_px / 43.27``. The default ``max(width, height)`` is about 38 mm
for 16:9 footage (a 53 degree view across the long side); a phone's main camera is 23-28 mm (26 mm is common).

Phones that say (iPhones) write ``com.apple.quicktime.camera.focal_length.35mm_equivalent`` into the QuickTime
metadata (``moov/meta``: a ``keys`` atom naming it, an ``ilst`` item holding the number);
:func:`metadata_focal_mm` reads it without decoding the video.
"""
from __future__ import annotations

import logging
import math
import struct
from typing import Dict, Iterator, List, Optional, Tuple

log = logging.getLogger(__name__)

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
FOCAL_KEY = b"com.apple.quicktime.camera.focal_length.35mm_equivalent"
MAX_MOOV_BYTES = 64 * 1024 * 1024     # a moov atom larger than this is not read for metadata
CONTAINERS = {b"moov", b"udta", b"meta"}


def focal_pixels(width: int, height: int, focal_mm: float) -> float:
    """A 35 mm-equivalent focal length (mm) -> pixels of a ``width`` x ``height`` frame."""
    return float(focal_mm) * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM


def focal_mm_of(width: int, height: int, focal_px: float) -> float:
    """Pixels -> the 35 mm-equivalent focal length (mm); the inverse of :func:`focal_pixels`."""
    return float(focal_px) * FULL_FRAME_DIAGONAL_MM / math.hypot(width, height)


def _atoms(data: bytes, start: int = 0, stop: Optional[int] = None) -> Iterator[Tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the atoms in ``data[start:stop]``; stops at a malformed size."""
    stop = len(data) if stop is None else stop
    at = start
    while at + 8 <= stop:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        header = 8
        if size == 1 and at + 16 <= stop:
            size, header = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        elif size == 0:
            size = stop - at
        if size < header or at + size > stop:
            return
        yield kind, at + header, at + size
        at += size


def _moov(path: str) -> Optional[bytes]:
    """The ``moov`` atom's payload of an MP4 / QuickTime file, or None (not one, or unreadable)."""
    with open(path, "rb") as handle:
        while True:
            head = handle.read(8)
            if len(head) < 8:
                return None
            size, kind = struct.unpack(">I4s", head)
            header = 8
            if size == 1:
                size, header = struct.unpack(">Q", handle.read(8))[0], 16
            if size == 0 or size < header:
                return None
            if kind == b"moov":
                if size > MAX_MOOV_BYTES:
                    return None
                body = handle.read(size - header)
                return body if len(body) == size - header else None
            handle.seek(size - header, 1)


def _number(payload: bytes) -> Optional[float]:
    """A QuickTime ``data`` atom's payload (type, locale, value) -> its number (float, integer or text)."""
    if len(payload) < 8:
        return None
    kind, value = struct.unpack(">I", payload[:4])[0] & 0xFFFFFF, payload[8:]
    try:
        if kind == 23 and len(value) == 4:
            return float(struct.unpack(">f", value)[0])
        if kind == 24 and len(value) == 8:
            return float(struct.unpack(">d", value)[0])
        if kind in (21, 22) and len(value) in (1, 2, 4, 8):
            return float(int.from_bytes(value, "big", signed=kind == 21))
        if kind == 1:
            return float(value.decode("utf-8").strip())
    except (ValueError, UnicodeDecodeError):
        return None
    return None


def _meta_items(data: bytes, start: int, stop: int) -> Dict[bytes, float]:
    """Key name -> number of a QuickTime ``meta`` atom's payload (``keys`` + ``ilst``)."""
    names: List[bytes] = []
    values: Dict[int, float] = {}
    for kind, begin, end in _atoms(data, start, stop):
        if kind == b"keys" and end - begin >= 8:
            count = struct.unpack(">I", data[begin + 4:begin + 8])[0]
            at = begin + 8
            for _ in range(count):
                if at + 8 > end:
                    break
                size = struct.unpack(">I", data[at:at + 4])[0]
                names.append(data[at + 8:at + size])
                at += max(size, 8)
        elif kind == b"ilst":
            for index, item_begin, item_end in _atoms(data, begin, end):
                for inner, value_begin, value_end in _atoms(data, item_begin, item_end):
                    number = _number(data[value_begin:value_end]) if inner == b"data" else None
                    if number is not None:
                        values[struct.unpack(">I", index)[0]] = number
    return {name: values[i + 1] for i, name in enumerate(names) if i + 1 in values}


def metadata_focal_mm(path: str) -> Optional[float]:
    """The 35 mm-equivalent focal length a phone wrote into the video's metadata (mm), or None (no such key, not an
    MP4 / QuickTime file, unreadable)."""
    try:
        moov = _moov(path)
    except OSError:
        return None
    if moov is None:
        return None
    stack = [(0, len(moov))]
    while stack:
        start, stop = stack.pop()
        for kind, begin, end in _atoms(moov, start, stop):
            if kind == b"meta":
                # a QuickTime meta holds atoms straight away; an ISO one starts with 4 bytes of version and flags
                quicktime = _meta_items(moov, begin, end)
                found = quicktime.get(FOCAL_KEY) or _meta_items(moov, begin + 4, end).get(FOCAL_KEY)
                if found and 1.0 <= found <= 1000.0:
                    log.info("focal length %.1f mm (35 mm equivalent) from the video's metadata", found)
                    return float(found)
            if kind in CONTAINERS:
                stack.append((begin, end))
    return None
