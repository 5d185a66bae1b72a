"""Batch inputs: folders, manifests (CSV and JSON), unique names, clear errors on malformed manifests."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.jobs.batch.inputs import expand_inputs
from server.errors import JobError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folder_gives_its_videos_recursively_sorted_with_path_names(tmp_path: Path) -> None:
    for rel in ("b.mp4", "a.MOV", "take1/cam.mp4", "notes.txt", ".hidden.mp4", ".cache/x.mp4"):
        touch(tmp_path / "shots" / rel)
    items = expand_inputs([str(tmp_path / "shots")])
    assert [i.name for i in items] == ["a", "b", "take1__cam"]
    assert items[2].clip == str(tmp_path / "shots" / "take1" / "cam.mp4")
    assert all((i.start, i.end, i.person, i.views) == (0, -1, -1, ()) for i in items)


def test_same_clip_twice_gets_numbered_names_in_order(tmp_path: Path) -> None:
    clip = touch(tmp_path / "run.mp4")
    other = touch(tmp_path / "x" / "run.mp4")
    items = expand_inputs([str(clip), str(other), str(clip)])
    assert [i.name for i in items] == ["run", "run_2", "run_3"]
    assert expand_inputs([str(clip), str(other), str(clip)]) == items   # the same inputs: the same names


def test_csv_manifest_ranges_views_and_relative_paths(tmp_path: Path) -> None:
    manifest = tmp_path / "shots.csv"
    manifest.write_text("clip,start,end,person,views,calibration,name\n"
                        "a.mp4,10,50,2,,,\n"
                        "cams/c1.mp4,,,,cams/c2.mp4;cams/c3.mp4,cams/calib.toml,take\n"
                        "a.mp4,,,,,,\n", encoding="utf-8")
    first, take, whole = expand_inputs([str(manifest)])
    assert (first.name, first.clip, first.start, first.end, first.person) == (
        "a_10-50", str(tmp_path / "a.mp4"), 10, 50, 2)
    assert take.name == "take" and take.views == (str(tmp_path / "cams" / "c2.mp4"), str(tmp_path / "cams" / "c3.mp4"))
    assert take.calibration == str(tmp_path / "cams" / "calib.toml")
    assert (whole.name, whole.start, whole.end) == ("a", 0, -1)


def test_json_manifest_with_range_text(tmp_path: Path) -> None:
    manifest = tmp_path / "shots.json"
    manifest.write_text(json.dumps({"clips": [{"clip": "/abs/a.mp4", "range": "5-25"},
                                              {"clip": "b.mp4", "views": ["b2.mp4"]}]}))
    a, b = expand_inputs([str(manifest)])
    assert (a.clip, a.start, a.end, a.name) == ("/abs/a.mp4", 5, 25, "a_5-25")
    assert b.views == (str(tmp_path / "b2.mp4"),)


@pytest.mark.parametrize("text, phrase", [
    ('[{"clip": "a.mp4", "fps": 3}]', "unknown field(s) fps"),
    ('[{"start": 3}]', "no clip"),
    ('[{"clip": "a.mp4", "start": "x"}]', "not a whole number"),
    ('[{"clip": "a.mp4", "range": "1-2-3"}]', "is not 'start-end'"),
    ('[{"clip": "a.mp4", "name": "../up"}]', "cannot be a file name"),
    ('{"clips": 3}', "not a list of clips"),
    ('[{"clip": ', "Cannot read the manifest"),
])
def test_malformed_manifest_says_where(tmp_path: Path, text: str, phrase: str) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text(text)
    with pytest.raises(JobError) as err:
        expand_inputs([str(manifest)])
    assert err.value.code == "bad_request" and phrase in err.value.message


def test_missing_clip_is_an_item_and_an_empty_folder_an_error(tmp_path: Path) -> None:
    (item,) = expand_inputs([str(tmp_path / "gone.mp4")])
    assert item.name == "gone"          # it fails as its own task (video_missing), the batch goes on
    (tmp_path / "empty").mkdir()
    with pytest.raises(JobError, match="No video files"):
        expand_inputs([str(tmp_path / "empty")])


@pytest.mark.parametrize("content, phrase", [
    (b"[" * 100000, "nested too deeply"),
    (b'{"clips": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    (b'[{"clip": "a.mp4", "start": ' + b"9" * 5000 + b"}]", "Cannot read the manifest"),
    (b'[{"clip": "a.mp4", "name": "\xff\xfe"}]', "Cannot read the manifest"),
    (b'[{"clip": ["a.mp4"]}]', "clip must be text"),
    (b'[{"clip": "a.mp4", "name": {"x": 1}}]', "name must be text"),
    (b'[{"clip": "a.mp4", "views": [1, 2]}]', "views must be a list of clips"),
    (b'[{"clip": "a.mp4", "start": 1e999}]', "not a whole number"),
    (b'[{"clip": "a.mp4", "person": true}]', "not a whole number"),
    (b'[{"clip": "a.mp4", "start": 50, "end": 10}]', "holds no frames"),
    (b'[{"clip": "a.mp4", "range": "-5--2"}]', "is not 'start-end'"),
    (b'[{"clip": "a.mp4", "start": -5, "end": -2}]', "holds no frames"),
    (b'[{"clip": "a.mp4", "range": [3, 3]}]', "holds no frames"),
])
def test_any_malformed_manifest_is_a_clear_error_naming_the_file(tmp_path: Path, content: bytes,
                                                                 phrase: str) -> None:
    manifest = tmp_path / "clips.json"
    manifest.write_bytes(content)
    with pytest.raises(JobError) as err:
        expand_inputs([str(manifest)])
    assert err.value.code == "bad_request" and err.value.exit_code == 2 and err.value.hint
    assert phrase in err.value.message and str(manifest) in err.value.message


def test_names_only_the_file_system_refuses_pass_the_manifest(tmp_path: Path) -> None:
    """A long name or one with a NUL is not the manifest's fault: it becomes an item (its clip fails alone)."""
    manifest = tmp_path / "clips.json"
    manifest.write_text(json.dumps([{"clip": "a.mp4", "name": "x" * 300}, {"clip": "a.mp4", "name": "a\0b"}]))
    assert [len(item.name) for item in expand_inputs([str(manifest)])] == [300, 3]
