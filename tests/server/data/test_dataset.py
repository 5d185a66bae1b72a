"""Dataset: the archive's selection rules, the subject split, the file format the trainer reads."""
from __future__ import annotations

import numpy as np

from server.data.archive import list_clips
from server.data.dataset import load_pose_dataset, save_pose_dataset, split_subjects

HEADER = "source\tpath\tsubject\tclip\tframes\tfps\tlicense_class\tnote\n"
ROWS = [
    ("cmu_iclone_dragonforged", "All_BVH/subjects/002/002_03.bvh", "cmu002", "02_03"),
    ("cmu_rgbdacq_ammarkov", "Motions/02_03.bvh", "cmu002", "02_03"),
    ("cmu_jump_arpspoof", "data/vae/txt/cmu01-09/02/02_03.txt", "cmu002", "02_03"),
    ("cmu_jump_arpspoof", "data/vae/txt/extra/backflip.txt", "extra", "backflip"),
    ("cmu_bvh11_koyama", "resources/scaled_131_01.bvh", "cmu131", "131_01s"),
    ("cmu_bvh11_koyama", "resources/131_01.bvh", "cmu131", "131_01"),
    ("cmu_acrnn_papagina", "train_data_bvh/salsa/01.bvh", "cmu060+061", "salsa_01"),
    ("cmu_acrnn_papagina", "train_data_bvh/indian/04.bvh", "cmu094(inferred)", "indian_04"),
]


def test_archive_rules(tmp_path):
    (tmp_path / "index.tsv").write_text(HEADER + "".join("\t".join(r + ("1", "60", "x", "")) + "\n" for r in ROWS))
    specs = list_clips(tmp_path)
    names = [s.name for s in specs]
    assert names.count("cmu_iclone_dragonforged/02_03") == 1
    assert not any("ammarkov" in n or "arpspoof" in n or "131_01s" in n for n in names)
    fps = {s.clip: s.fps for s in specs}
    assert fps["salsa_01"] == 60.0 and fps["indian_04"] is None
    assert {s.subject for s in specs} == {"cmu002", "cmu131", "cmu060+061", "cmu094"}


def test_split_is_by_subject_and_keeps_every_source_in_train():
    frames = {f"s{i:02d}": {"big": 100} for i in range(16)}
    frames.update({"a": {"small": 5}, "b": {"small": 7}, "shared": {"big": 50, "small": 10}})
    split = split_subjects(frames)
    assert split == split_subjects(dict(reversed(list(frames.items()))))   # deterministic, order-free
    val = {s for s, part in split.items() if part == "val"}
    assert len(val) == 2                                                       # 12.5 % of the 17 'big' subjects
    assert split["a"] == split["b"] == "train"                                 # 2-subject source stays in train


def test_saved_dataset_round_trips_with_the_trainer_keys(tmp_path):
    n = 7
    data = {
        "poses": np.zeros((n, 24, 3), np.float32), "transl": np.zeros((n, 3), np.float32),
        "clip_id": np.array([0, 0, 0, 1, 1, 2, 2], np.int32), "subject_id": np.array([0, 0, 0, 1, 1, 0, 0], np.int32),
        "source_id": np.zeros(n, np.int32), "split": np.array(["train"] * 3 + ["val"] * 2 + ["train"] * 2),
        "clip_names": np.array(["a", "b", "c"]), "clip_skeleton": np.array(["x", "x", "x"]),
        "subject_names": np.array(["p", "q"]), "source_names": np.array(["src"]), "fps": np.float64(30.0),
    }
    loaded = load_pose_dataset(save_pose_dataset(data, tmp_path / "d.npz"))
    assert loaded["poses"].shape == (n, 24, 3) and loaded["poses"].dtype == np.float32
    assert loaded["transl"].shape == (n, 3) and loaded["clip_id"].dtype == np.int32
    assert list(loaded["subject"]) == ["p"] * 3 + ["q"] * 2 + ["p"] * 2
    train = set(loaded["subject"][loaded["split"] == "train"])
    assert not train & set(loaded["subject"][loaded["split"] == "val"])
    assert float(loaded["fps"]) == 30.0
