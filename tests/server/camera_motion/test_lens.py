"""The focal length: 35 mm equivalents on the diagonal, and a phone's metadata read from the MP4 atoms."""
from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from server.camera_motion.lens import FOCAL_KEY, focal_mm_of, focal_pixels, metadata_focal_mm


def test_a_full_frame_lens_on_its_own_sensor() -> None:
    # a 36 x 24 mm sensor of 3600 x 2400 px (100 px per mm): a 50 mm lens is 5000 px
    assert focal_pixels(3600, 2400, 50.0) == pytest.approx(5000.0)
    assert focal_mm_of(3600, 2400, 5000.0) == pytest.approx(50.0)
    # the worker's default max(width, height) on 16:9 footage is about a 38 mm lens
    assert focal_mm_of(1920, 1080, 1920.0) == pytest.approx(37.7, abs=0.1)
    assert focal_pixels(1080, 1920, 26.0) == pytest.approx(26.0 * math.hypot(1080, 1920) / math.hypot(36, 24))


def _atom(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _phone_clip(path: Path, value: bytes, data_type: int, iso_meta: bool = False) -> Path:
    """An MP4 skeleton (ftyp, moov with an mdta meta, mdat) like an iPhone's; the value an ``ilst`` item."""
    keys = [b"com.apple.quicktime.make", FOCAL_KEY]
    key_atoms = b"".join(struct.pack(">I4s", 8 + len(k), b"mdta") + k for k in keys)
    items = _atom(struct.pack(">I", 1), _atom(b"data", struct.pack(">II", 1, 0) + b"Apple")) + \
        _atom(struct.pack(">I", 2), _atom(b"data", struct.pack(">II", data_type, 0) + value))
    meta = _atom(b"hdlr", b"\0" * 8 + b"mdta" + b"\0" * 13) + \
        _atom(b"keys", struct.pack(">II", 0, len(keys)) + key_atoms) + _atom(b"ilst", items)
    moov = _atom(b"mvhd", b"\0" * 100) + _atom(b"meta", (b"\0" * 4 if iso_meta else b"") + meta)
    path.write_bytes(_atom(b"ftyp", b"qt  \0\0\0\0qt  ") + _atom(b"mdat", b"\0" * 64) + _atom(b"moov", moov))
    return path


@pytest.mark.parametrize("value, data_type, iso", [(struct.pack(">h", 26), 21, False),
                                                   (struct.pack(">f", 26.0), 23, False),
                                                   (b"26", 1, True)])
def test_the_phone_metadata_gives_the_focal_length(tmp_path: Path, value: bytes, data_type: int, iso: bool) -> None:
    assert metadata_focal_mm(str(_phone_clip(tmp_path / "phone.mov", value, data_type, iso))) == pytest.approx(26.0)


def test_no_metadata_no_focal_length(tmp_path: Path, sample_video: Path) -> None:
    assert metadata_focal_mm(str(sample_video)) is None
    (tmp_path / "text.mp4").write_text("not a video at all")
    assert metadata_focal_mm(str(tmp_path / "text.mp4")) is None
    assert metadata_focal_mm(str(tmp_path / "missing.mp4")) is None
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(struct.pack(">I4s", 4, b"moov") + b"\xff" * 32)    # a size smaller than its header
    assert metadata_focal_mm(str(broken)) is None
    absurd = _phone_clip(tmp_path / "absurd.mov", struct.pack(">f", -3.0), 23)
    assert metadata_focal_mm(str(absurd)) is None
