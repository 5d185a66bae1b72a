"""Foot locking (:mod:`server.world.lock`) on a sliding clip, and the cleanup command's --lock-feet."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from server.cleanup.sequence import make_sequence, save_sequence
from server.cli import main
from server.errors import JobError
from server.world.feet import foot_sliding
from server.world.lock import lock_feet, sequence_joints
from tests.server.cleanup.conftest import FAST, smooth_clip
from tests.server.world.test_feet import FPS


def test_no_resting_foot_is_a_clear_error(prior, skinning) -> None:
    seq = smooth_clip(30, seed=2)
    fast = replace(seq, transl=seq.transl + np.stack([np.arange(30) * 0.1, np.zeros(30), np.zeros(30)], -1)
                   .astype(np.float32))                                        # 3 m/s: nothing rests
    with pytest.raises(JobError, match="No ground contact"):
        lock_feet(prior, skinning, fast, settings=FAST)


def _drifting_stand():
    still = smooth_clip(40, seed=4)
    poses = np.repeat(still.poses[:1], 40, 0)                                  # one standing pose ...
    drift = np.stack([np.linspace(0.0, 0.08, 40), np.zeros(40), np.zeros(40)], -1).astype(np.float32)
    return make_sequence(poses, still.transl[:1] + drift, still.betas, FPS, None, "world")  # ... drifting 2 mm/frame


def test_locking_holds_a_resting_foot_still(prior, skinning) -> None:
    seq = _drifting_stand()
    before = sequence_joints(skinning, seq)
    out, report = lock_feet(prior, skinning, seq)                            # default settings: 100 steps
    assert report.contacts.any()
    after = sequence_joints(skinning, out)
    assert foot_sliding(after, report.contacts, report.ground) < 0.3 * foot_sliding(before, report.contacts,
                                                                                     report.ground)


def test_cli_lock_feet_adds_contacts_and_ground(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("server.jobs.cleanup.DEFAULT", FAST)
    src, out = tmp_path / "in.npz", tmp_path / "out.npz"
    save_sequence(src, _drifting_stand())
    assert main(["cleanup", str(src), "-o", str(out), "--lock-feet"]) == 0
    with np.load(out, allow_pickle=False) as data:
        assert data["foot_contacts"].shape == (40, 4) and data["foot_contacts"].any()
        assert data["ground"].shape == (4,) and "feet locked" in str(data["method"])
