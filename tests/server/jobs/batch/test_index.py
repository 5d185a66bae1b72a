"""The batch index: which earlier results a rerun keeps (checked, not just present), atomic rewrites, names the
file system refuses, output folders that cannot be one."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from server.jobs.batch.index import INDEX_NAME, plan, prepare_folder, read_index, reusable, write_index
from server.jobs.batch.inputs import BatchItem
from server.errors import JobError
from tests.server.test_result import minimal_result

SETTINGS = {"refine": True, "place": True}


def item(tmp_path: Path, name: str = "a", start: int = 0, end: int = -1) -> BatchItem:
    return BatchItem(clip=str(tmp_path / f"{name}.mp4"), name=name if (start, end) == (0, -1) else
                     f"{name}_{start}-{end}", start=start, end=end)


def save(folder: Path, it: BatchItem, **kwargs) -> Path:
    path = folder / it.output_name
    np.savez_compressed(path, **minimal_result(source_video=it.clip, **kwargs))
    return path


def test_valid_result_of_the_same_clip_and_range_is_kept(tmp_path: Path) -> None:
    it = item(tmp_path, start=10, end=40)
    save(tmp_path, it, frame_range=(10, 40))
    assert reusable(it, str(tmp_path)) is None
    other = BatchItem(clip=str(tmp_path / "b.mp4"), name=it.name, start=10, end=40)
    assert "another clip" in reusable(other, str(tmp_path))
    shifted = BatchItem(clip=it.clip, name=it.name, start=12, end=40)
    assert "another frame range" in reusable(shifted, str(tmp_path))


def test_damaged_or_rangeless_results_are_captured_again(tmp_path: Path) -> None:
    it = item(tmp_path)
    path = save(tmp_path, it)
    assert "no frame range" in reusable(it, str(tmp_path))
    save(tmp_path, it, frame_range=(0, 5))
    path.write_bytes(path.read_bytes()[:200])
    assert "unreadable" in reusable(it, str(tmp_path))
    path.unlink()
    assert reusable(it, str(tmp_path)) == "missing"


def test_plan_keeps_done_clips_with_their_earlier_figures(tmp_path: Path) -> None:
    done, todo = item(tmp_path, "a"), item(tmp_path, "b")
    save(tmp_path, done, frame_range=(0, 5))
    first = plan([done, todo], str(tmp_path), SETTINGS)
    assert [r["status"] for r in first] == ["done", "pending"] and first[0]["reused"]
    first[0].update(frames=5, processed=5, seconds=2.5, worker="node:7")
    write_index(str(tmp_path), first, SETTINGS)
    again = plan([done, todo], str(tmp_path), SETTINGS)
    assert (again[0]["frames"], again[0]["seconds"], again[0]["worker"]) == (5, 2.5, "node:7")
    assert [r["status"] for r in plan([done, todo], str(tmp_path), SETTINGS, redo=True)] == ["pending"] * 2
    assert [r["status"] for r in plan([done, todo], str(tmp_path), {**SETTINGS, "refine": False})] == ["pending"] * 2


def test_index_is_written_whole_and_bad_indexes_are_ignored(tmp_path: Path) -> None:
    records = plan([item(tmp_path)], str(tmp_path), SETTINGS)
    path = write_index(str(tmp_path), records, SETTINGS)
    assert os.listdir(tmp_path) == [INDEX_NAME]
    data = json.loads(Path(path).read_text())
    assert data["settings"] == SETTINGS and data["clips"][0]["status"] == "pending"
    assert data["clips"][0]["error"] is None and data["clips"][0]["output"] == "a.npz"
    Path(path).write_text("{half")
    assert read_index(str(tmp_path)) == {}


def test_names_the_file_system_refuses_fail_their_clip_alone(tmp_path: Path) -> None:
    """A 300-character name and a name with a NUL pass the manifest's check; the plan fails those clips (with the
    reason) before anything is captured, leaves the others pending, and leaves no file behind."""
    long, nul, good = item(tmp_path, "x" * 300), item(tmp_path, "a\0b"), item(tmp_path, "good")
    records = plan([long, nul, good], str(tmp_path), SETTINGS)
    assert [r["status"] for r in records] == ["failed", "failed", "pending"]
    assert "too long" in records[0]["error"]["message"] and "300 characters" in records[0]["error"]["message"]
    assert "NUL" in records[1]["error"]["message"]
    assert all(r["error"]["code"] == "bad_request" and r["error"]["hint"] for r in records[:2])
    write_index(str(tmp_path), records, SETTINGS)
    assert sorted(os.listdir(tmp_path)) == [INDEX_NAME]
    assert [r["status"] for r in read_index(str(tmp_path))["clips"]] == ["failed", "failed", "pending"]


def test_output_that_is_a_file_or_cannot_be_made_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "results.npz"
    afile.write_bytes(b"keep")
    for folder, phrase in ((afile, "is a file"), (afile / "sub", "Cannot make"), (f"{tmp_path}/a\0b", "NUL")):
        with pytest.raises(JobError) as err:
            prepare_folder(str(folder))
        assert err.value.code == "bad_request" and phrase in err.value.message and err.value.hint
    assert afile.read_bytes() == b"keep"
    prepare_folder(str(tmp_path / "new" / "deeper"))
    assert (tmp_path / "new" / "deeper").is_dir()
