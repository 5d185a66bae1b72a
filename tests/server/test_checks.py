"""server.checks: the option ranges, the output-path checks and the capture request's checks before any work."""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from server import checks
from server.jobs.capture import CaptureRequest, check_capture_request, run_capture
from server.errors import Cancelled, JobError


@pytest.mark.parametrize("name, value, words", [
    ("detectors", 10 ** 400, "--detectors is 10000000000000000000...; it must be a whole number"),
    ("person", -(10 ** 400), "--person is -1000000000000000000..."),
    ("detectors", 2.5, "whole number"),
    ("detectors", 33, "--detectors is 33; it must be a whole number from 0 to 32"),
    ("person", -2, "--person is -2; it must be a whole number >= -1"),
    ("detectors", -1, "--detectors"),
    ("workers", -1, "--workers"),
    ("retries", -1, "--retries"),
    ("start", -5, "--start is -5"),
    ("start", "1", "--start is '1'"),
    ("person", True, "--person is True"),
])
def test_out_of_range_option_is_a_bad_request(name: str, value: object, words: str) -> None:
    with pytest.raises(JobError) as raised:
        checks.check_option(name, value)
    assert raised.value.code == "bad_request" and raised.value.exit_code == 2
    assert words in raised.value.message, raised.value.message


@pytest.mark.parametrize("name, value", [("person", -1), ("person", 0), ("detectors", 32), ("detectors", 3.0),
                                         ("start", 0), ("end", -1), ("workers", 0), ("retries", 100)])
def test_in_range_option_passes(name: str, value: object) -> None:
    checks.check_option(name, value)


@pytest.mark.parametrize("start, end, words", [(-5, -2, "--start is -5"), (10, 5, "--end is 5 with --start 10"),
                                               (0, -2, "--end is -2"), (3, 3, "--end is 3")])
def test_bad_frame_range(start: int, end: int, words: str) -> None:
    with pytest.raises(JobError, match=words):
        checks.check_range(start, end)


def test_frame_ranges_that_work() -> None:
    for start, end in [(0, -1), (5, -1), (5, 6), (0, 1)]:
        checks.check_range(start, end)


def test_capture_defaults_are_the_declared_defaults() -> None:
    """The command line's defaults of the numbers beside the options (from OPTIONS) are the capture request's."""
    defaults = {f.name: f.default for f in dataclasses.fields(CaptureRequest)}
    for name in checks.CAPTURE_OPTIONS:
        assert checks.OPTIONS[name].default == defaults[name], name
    checks.check_capture_options(defaults)


def test_output_file_checks(tmp_path: Path) -> None:
    footage = tmp_path / "footage.mp4"
    footage.write_bytes(b"video")
    os.link(footage, tmp_path / "hard.mp4")
    os.symlink(footage, tmp_path / "soft.mp4")
    (tmp_path / "sub").mkdir()
    cases = [(str(tmp_path), "is a folder"), (str(tmp_path / "no" / "out.npz"), "does not exist"),
             (str(footage / "out.npz"), "which is a file"), (str(footage), "is the input file"),
             (str(tmp_path / "hard.mp4"), "is the input file"), (str(tmp_path / "soft.mp4"), "is the input file"),
             (str(tmp_path / "sub" / ".." / "footage.mp4"), "is the input file"), ("", "is empty")]
    for output, words in cases:
        with pytest.raises(JobError, match=words):
            checks.check_output_file(output, [str(footage), ""])
    checks.check_output_file(str(tmp_path / "sub" / "out.npz"), [str(footage)])
    assert sorted(os.listdir(tmp_path / "sub")) == []     # the probe leaves nothing behind


def test_output_folder_checks(tmp_path: Path) -> None:
    manifest = tmp_path / "takes.csv"
    manifest.write_text("clip\n")
    with pytest.raises(JobError, match="is a file, not a folder"):
        checks.check_output_folder(str(manifest), [str(manifest)])
    with pytest.raises(JobError, match="which is a file"):
        checks.check_output_folder(str(manifest / "results"))
    checks.check_output_folder(str(tmp_path / "new" / "deeper"))
    checks.check_output_folder(str(tmp_path), [str(tmp_path), str(manifest)])   # results beside the clips
    assert not (tmp_path / "new").exists()
    with pytest.raises(JobError, match="The result .*batch.json is the input file"):
        checks.check_apart([str(tmp_path / "batch.json")], [str(tmp_path / "x.mp4"), str(tmp_path / "batch.json")])


def test_unwritable_folder_is_found_by_the_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root passes ``os.access`` on a read-only mount: the probe creates a file instead, and its failure counts."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(30, "Read-only file system")
    monkeypatch.setattr(checks.tempfile, "mkstemp", refuse)
    with pytest.raises(JobError, match="Cannot write into the folder .*Read-only file system") as raised:
        checks.check_output_file(str(tmp_path / "out.npz"))
    assert raised.value.code == "bad_request"
    with pytest.raises(JobError, match="Cannot write into the folder"):
        checks.check_output_folder(str(tmp_path / "results"))


def test_capture_request_is_checked_before_any_work(tmp_path: Path) -> None:
    """run_capture refuses a bad range or output before it even opens the footage (the add-on's and a batch's path
    too; the options were checked when they were built: tests/server/test_options.py)."""
    missing = str(tmp_path / "missing.mp4")
    for request, words in [(CaptureRequest(video=missing, output="o.npz", detectors=-3), "--detectors is -3"),
                           (CaptureRequest(video=missing, output="o.npz", start=-5, end=-2), "--start is -5"),
                           (CaptureRequest(video=missing, output="o.npz", person=-7), "--person"),
                           (CaptureRequest(video=missing, output=missing), "is the input file")]:
        with pytest.raises(JobError, match=words) as raised:
            run_capture(request, lambda *a: None, lambda: False)
        assert raised.value.code == "bad_request"
    check_capture_request(CaptureRequest(video=missing, output=str(tmp_path / "o.npz"), person=2, end=10))


def test_cancelled_hint_names_the_button() -> None:
    assert "Press Capture Motion" in Cancelled().hint or "press Capture Motion" in Cancelled().hint


def test_docs_list_every_range_and_exit_code() -> None:
    """docs/cli.md's option table says each declared range, and its exit-code table has every code."""
    from server.errors import EXIT_CODES

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `--")}
    for spec in checks.OPTIONS.values():
        assert spec.allowed() in rows[f"`{spec.flag}`"] or spec.flag == "--end", spec.flag
    codes = {int(line.split("|")[1]) for line in text.splitlines() if re.match(r"\| \d+ \|", line)}
    assert codes == set(EXIT_CODES.values()) | {0, 12}
