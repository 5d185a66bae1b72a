"""Which files Import Capture Results takes (no bpy): a result, a batch.json, a folder with or without one."""
from __future__ import annotations

import json
from importlib import import_module

import numpy as np
import pytest

import fake_result


@pytest.fixture(scope="module")
def listing(addon):
    return import_module(f"{addon.__name__}.core.batch_results")


@pytest.fixture(scope="module")
def errors(addon):
    return import_module(f"{addon.__name__}.core.panel_errors")


def test_a_result_file_is_one_entry(listing, tmp_path):
    path = fake_result.write_result(tmp_path / "take.npz", frame_indices=range(4))
    entries, notes = listing.find_results(path)
    assert [(e.name, e.path, e.clip) for e in entries] == [("take", path, "")] and notes == []


def test_batch_index_gives_done_clips_and_names_the_rest(listing, tmp_path):
    for name in ("a", "b"):
        fake_result.write_result(tmp_path / f"{name}.npz", frame_indices=range(3))
    clips = [{"name": "a", "output": "a.npz", "status": "done", "clip": "/f/a.mp4"},
             {"name": "gone", "output": "gone.npz", "status": "done", "clip": "/f/gone.mp4"},
             {"name": "c", "output": "c.npz", "status": "failed", "clip": "/f/c.mp4",
              "error": {"message": "No person"}},
             {"name": "b", "output": "b.npz", "status": "cancelled", "clip": "/f/b.mp4"}]
    (tmp_path / "batch.json").write_text(json.dumps({"clips": clips}))
    for path in (tmp_path, tmp_path / "batch.json"):
        entries, notes = listing.find_results(path)
        assert [(e.name, e.clip) for e in entries] == [("a", "/f/a.mp4")]
        assert notes == ["not captured, not imported: c (failed: No person), b (cancelled)",
                         "result file missing: gone"]


def test_folder_without_index_gives_its_results_sorted(listing, tmp_path):
    for name in ("b", "a", ".a.npz.12.partial"):
        np.savez(tmp_path / f"{name}.npz", x=np.zeros(1))
    entries, _ = listing.find_results(tmp_path)
    assert [e.name for e in entries] == ["a", "b"]


@pytest.mark.parametrize("case", ["missing", "empty_folder", "bad_index", "nothing_done"])
def test_nothing_to_import_is_a_clear_error(listing, errors, tmp_path, case):
    path = tmp_path / "x"
    if case == "empty_folder":
        path.mkdir()
    elif case == "bad_index":
        path = tmp_path / "batch.json"
        path.write_text("{}")
    elif case == "nothing_done":
        path = tmp_path / "batch.json"
        path.write_text(json.dumps({"clips": [{"name": "a", "output": "a.npz", "status": "failed"}]}))
    with pytest.raises(errors.ScoreHMRError) as err:
        listing.find_results(path)
    assert err.value.hint
