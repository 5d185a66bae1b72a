"""The dual motion model: shapes, streaming equals one pass, regression mode, the prior adapter, the v -> eps
conversion, checkpoints, the swap labels of the training windows and a short training run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.dual.dual_network import (DUAL_CHECKPOINT_FORMAT, DualConfig, DualMotionModel, dual_checkpoint,
                                          load_dual_motion, v_to_eps, v_to_x0)
from server.dual.stream import DualPrior, dual_regression, regress_dual, sequence_evidence
from server.diffusion.schedule import cosine_alphas_cumprod, predict_eps, predict_x0
from server.errors import WeightsError
from server.fitting.state import Observations
from server.regressor.network import Regressor, RegressorConfig
from server.regressor.network import checkpoint_dict as frame_checkpoint
from tests.server.train.conftest import write_pose_dataset


@pytest.fixture(scope="module")
def skinning() -> LandmarkSkinning:
    return LandmarkSkinning(load_body_model(default_body_model_path()))


def _model(seed: int = 0) -> DualMotionModel:
    torch.manual_seed(seed)
    model = DualMotionModel(DualConfig(channels=16, dilations=(1, 2, 4), time_dim=16),
                            Regressor(RegressorConfig(hidden=32, num_blocks=1)))
    for head in (model.pose_head, model.cam_head, model.betas_head, model.swap_head):   # zero at init
        torch.nn.init.normal_(head.weight, std=0.05)
    model.x_std.uniform_(0.5, 1.5)
    return model.eval()


def _obs(n: int, seed: int = 0, frames=None, fps=None) -> Observations:
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 3, n)[:, None, None]
    kp = torch.rand(1, 33, 3, generator=g) * torch.tensor([200.0, 400.0, 0.0]) + torch.tensor([800.0, 300.0, 0.9])
    kp = kp + torch.cat([20 * torch.sin(t + torch.rand(1, 33, 2, generator=g)), torch.zeros(n, 33, 1)], -1)
    world = torch.randn(1, 33, 3, generator=g).expand(n, 33, 3) * 0.3
    return Observations.from_image(kp, 1920, 1080, world=world, frames=frames, fps=fps)


def test_shapes_per_window_and_per_frame_timesteps() -> None:
    model = _model()
    feat = torch.randn(2, 30, model.frame.config.input_dim)
    frame = {k: v.reshape(2, 30, -1) for k, v in model.frame_outputs(feat.reshape(60, -1)).items()}
    ev = model.evidence(feat, frame)
    for t in (7, torch.tensor([5, 900]), torch.randint(0, 1000, (2, 30))):
        out = model(torch.randn(2, 30, 144), t, ev, torch.rand(2, 30) > 0.3, torch.tensor([30.0, 60.0]))
        assert {k: tuple(v.shape) for k, v in out.items()} == {
            "v": (2, 16, 144), "x0": (2, 16, 144), "x": (2, 16, 144), "cam": (2, 16, 3), "betas": (2, 16, 10),
            "swap": (2, 16, 2)}
    with pytest.raises(ValueError):
        model(torch.randn(1, 14, 144), 3, None, None, torch.tensor([30.0]))


def test_untrained_regression_mode_is_the_per_frame_regressor(skinning: LandmarkSkinning) -> None:
    model, obs = _model(), _obs(20)
    for head in (model.pose_head, model.cam_head, model.betas_head):
        torch.nn.init.zeros_(head.weight)
    features, _ = model.frame.features(obs.keypoints, obs.world, obs.focal, obs.centre)
    est = regress_dual(model, skinning, obs)
    assert torch.allclose(est.x, model.frame(features)["x"], atol=1e-4)


def test_streaming_does_not_depend_on_the_block_size(skinning: LandmarkSkinning) -> None:
    model = _model()
    obs = _obs(50, frames=torch.cat([torch.arange(30), torch.arange(60, 80)]), fps=30.0)   # a gap: two segments
    whole, swap = dual_regression(model, skinning, obs, block=1000)
    for block in (1, 7, 16):
        part, part_swap = dual_regression(model, skinning, obs, block=block)
        for a, b in ((whole.x, part.x), (whole.betas, part.betas), (whole.transl, part.transl), (swap, part_swap)):
            assert torch.allclose(a, b, atol=1e-5)
    assert swap.shape == (50, 2) and bool(((swap > 0) & (swap < 1)).all())
    z = torch.randn(50, 144)
    mask = torch.rand(50, generator=torch.Generator().manual_seed(3)) > 0.2
    for t in (40, torch.randint(0, 1000, (50,))):
        with torch.no_grad():
            a = DualPrior(model, [obs], block=1000)(z, t, torch.zeros(50, 1), mask)
            b = DualPrior(model, [obs], block=9)(z, t, torch.zeros(50, 1), mask)
        assert torch.allclose(a, b, atol=1e-5)


def test_regression_mode_equals_one_window_forward(skinning: LandmarkSkinning) -> None:
    model, obs = _model(), _obs(12, fps=30.0)
    k = model.context
    rows = torch.arange(-k, 12 + k).clamp(0, 11)
    part = obs.select(rows)
    features, _ = model.frame.features(part.keypoints, part.world, part.focal, part.centre)
    ev = {key: v[None] for key, v in model.evidence(features, model.frame(features)).items()}
    with torch.no_grad():
        out = model(torch.zeros(1, len(rows), 144), model.config.num_timesteps - 1, ev, None, torch.tensor([30.0]))
    est, swap = dual_regression(model, skinning, obs, block=5)
    assert torch.allclose(est.x, out["x"][0], atol=1e-5)
    assert torch.allclose(est.betas, out["betas"][0], atol=1e-5)
    assert torch.allclose(swap, torch.sigmoid(out["swap"][0]), atol=1e-6)


def test_prior_condition_off_and_clips_end_to_end() -> None:
    model = _model()
    clips = [_obs(9, seed=1), _obs(25, seed=2)]
    z = torch.randn(34, 144)
    with torch.no_grad():
        on = DualPrior(model, clips)(z, 100, torch.zeros(34, 1))
        off = DualPrior(model, clips, conditional=False)(z, 100, torch.zeros(34, 1))
        none = DualPrior(model, clips)(z, 100, None)
        masked = DualPrior(model, clips)(z, 100, torch.zeros(34, 1), torch.zeros(34, dtype=torch.bool))
    assert on.shape == off.shape == (34, 144) and bool(torch.isfinite(off).all())
    assert torch.equal(off, none) and torch.allclose(off, masked, atol=1e-6)
    assert not torch.allclose(on, off)
    prior = DualPrior(model, clips)
    assert prior.config.use_world and prior.frames == 34
    assert torch.allclose(prior.denormalize(prior.normalize(z)), z, atol=1e-5)
    with pytest.raises(ValueError):
        prior(torch.zeros(33, 144), 10)
    assert sum(len(s.rows) for s in sequence_evidence(model, clips[1])) == 25


def test_v_to_eps_matches_predict_eps_of_the_x0() -> None:
    ac = cosine_alphas_cumprod()
    g = torch.Generator().manual_seed(0)
    z, v = torch.randn(6, 144, generator=g), torch.randn(6, 144, generator=g)
    t = torch.tensor([20, 100, 300, 500, 800, 990])
    x0 = v_to_x0(z, t, v, ac)
    eps = v_to_eps(z, t, v, ac)
    assert torch.allclose(predict_eps(z, t, x0, ac), eps, atol=1e-3)
    assert torch.allclose(predict_x0(z, t, eps, ac), x0, atol=1e-3)


def test_checkpoint_round_trip_and_a_wrong_file(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "dual_motion.pt"
    torch.save(dual_checkpoint(model, {"val_loss": 1.0}, {"steps": 3}), path)
    loaded = load_dual_motion(path)
    assert loaded.config == model.config and not loaded.training
    assert torch.equal(loaded.x_std, model.x_std)                        # the z-score statistics in full precision
    assert torch.allclose(loaded.pose_head.weight, model.pose_head.weight, atol=1e-3)
    wrong = tmp_path / "regressor.pt"
    torch.save(frame_checkpoint(model.frame), wrong)
    with pytest.raises(WeightsError, match="dual_motion"):
        load_dual_motion(wrong)


def test_training_windows_report_their_swaps(skinning: LandmarkSkinning, tmp_path: Path) -> None:
    from server.train.clip_noise import ClipNoiseConfig
    from server.train.clip_windows import load_clip_sets, synthesize_window, synthesize_window_with_swaps
    from server.train.synthetic_views import ViewConfig
    train, _ = load_clip_sets(write_pose_dataset(tmp_path / "poses.npz"))
    noise = ClipNoiseConfig(swap_rate=(0.05, 0.05))
    views, speed, swaps = synthesize_window_with_swaps(skinning, train, 50, 60, torch.Generator().manual_seed(4),
                                                       noise, ViewConfig(swap_prob=0.1))
    plain, plain_speed = synthesize_window(skinning, train, 50, 60, torch.Generator().manual_seed(4), noise,
                                           ViewConfig(swap_prob=0.1))
    assert torch.equal(views.keypoints, plain.keypoints) and speed == plain_speed   # the same random stream
    assert swaps.shape == (60, 2) and swaps.dtype == torch.bool and bool(swaps.any())


def test_three_training_steps_write_a_loadable_checkpoint(tmp_path: Path) -> None:
    from server.train.dual_motion import main
    torch.set_num_threads(1)
    dataset = write_pose_dataset(tmp_path / "poses.npz")
    frame = tmp_path / "regressor.pt"
    torch.manual_seed(0)
    torch.save(frame_checkpoint(Regressor(RegressorConfig(hidden=32, num_blocks=1))), frame)
    out = tmp_path / "weights" / "dual_motion.pt"
    assert main(["--dataset", str(dataset), "--out", str(out), "--steps", "3", "--val-every", "3", "--frame",
                 str(frame), "--channels", "16", "--batch", "4", "--window", "4", "--val-size", "4",
                 "--warmup", "1", "--threads", "1"]) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["training"]["steps"] == 3 and sidecar["model"]["channels"] == 16
    for key in ("val_loss", "val_x0", "val_x0_uncond", "val_swap_bce", "frame_val_loss"):
        assert math.isfinite(sidecar["figures"][key]), key
    model = load_dual_motion(out)
    assert model.config.frame["hidden"] == 32 and not model.training
    assert bool((model.x_std != 1.0).any())                              # statistics of the training windows


def test_prior_without_evidence_equals_the_unconditional_prior() -> None:
    """Cleanup's prior (no footage): the same noise estimates as the unconditional prior of observed clips."""
    model = _model()
    clips = [_obs(40, 1, fps=30.0), _obs(9, 2, fps=30.0)]
    x_t = torch.randn(49, 144, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = DualPrior(model, clips, conditional=False)(x_t, 300)
        got = DualPrior.without_evidence(model, [40, 9], 30.0)(x_t, 300, torch.zeros(49, 1))
    assert torch.allclose(got, expected, atol=1e-5)


def test_estimate_refinement_windows_fine_tune_and_choose_sdedit(tmp_path: Path) -> None:
    """--estimate-share: a fine-tune from an earlier checkpoint records estimate_t, and ScoreHMR then starts from
    fresh noise at that t*; without it the model keeps the deterministic inversion."""
    from server.refine.refine_settings import RefineSettings
    from server.train.dual_motion import main
    torch.set_num_threads(1)
    dataset = write_pose_dataset(tmp_path / "poses.npz")
    frame = tmp_path / "regressor.pt"
    torch.manual_seed(0)
    torch.save(frame_checkpoint(Regressor(RegressorConfig(hidden=32, num_blocks=1))), frame)
    common = ["--dataset", str(dataset), "--steps", "2", "--val-every", "2", "--frame", str(frame), "--channels",
              "16", "--batch", "8", "--window", "4", "--val-size", "8", "--warmup", "1", "--threads", "1"]
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    assert main(common + ["--out", str(first)]) == 0
    assert main(common + ["--out", str(second), "--init", str(first), "--estimate-share", "1.0",
                          "--estimate-t", "120"]) == 0
    with pytest.raises(WeightsError, match="does not match"):          # --init loads strictly: no silent half-load
        main(common[:9] + ["8"] + common[10:] + ["--out", str(tmp_path / "third.pt"), "--init", str(first)])
    base, tuned = load_dual_motion(first), load_dual_motion(second)
    assert base.config.estimate_t == 0 and tuned.config.estimate_t == 120
    assert torch.equal(tuned.x_std, base.x_std)                          # the statistics came with --init
    figures = json.loads(second.with_suffix(".json").read_text())["figures"]
    assert math.isfinite(figures["val_x0_from_estimate"])
    plain, sdedit = RefineSettings().for_prior(base), RefineSettings().for_prior(tuned)
    assert not plain.fresh_noise and plain.t_start == RefineSettings().dual_t_start
    assert sdedit.fresh_noise and sdedit.t_start == 120


def test_estimate_windows_are_noised_from_the_low_passed_frame_estimate() -> None:
    from server.diffusion.schedule import q_sample
    from server.train.dual_motion import DualTrainConfig, assign_modes, low_passed
    x = torch.arange(10.0).reshape(1, 10, 1).repeat(1, 1, 2)
    smooth = low_passed(x, 5)
    assert smooth.shape == x.shape and torch.allclose(smooth[0, 2:8, 0], x[0, 2:8, 0])      # a ramp is kept
    assert float(smooth[0, 0, 0]) == pytest.approx((0 + 0 + 0 + 1 + 2) / 5)                # edges repeated
    model = _model()
    b, t = 6, 9
    truth, estimate = torch.randn(b, t, 144), torch.randn(b, t, 144)
    batch = {"x_all": truth, "frame": {"x": estimate}}
    cfg = DualTrainConfig(dataset="", out="", estimate_share=1.0, estimate_t=100)
    state = assign_modes(model, batch, cfg, torch.Generator().manual_seed(0))
    est = state["estimate"]
    assert est.tolist() == [False] * 3 + [True] * 3                        # every diffusion window, no regression one
    assert bool(((state["t"][est] >= 50) & (state["t"][est] < 150)).all())
    g = torch.Generator().manual_seed(0)      # replay assign_modes' first draws (t, then the noise): the
    torch.randint(model.config.num_timesteps, (b,), generator=g)        # estimate windows' z_t is the estimate's
    noise = torch.randn(truth.shape, generator=g)
    z_est = q_sample(model.normalize(low_passed(estimate)).reshape(b, -1), state["t"], noise.reshape(b, -1),
                     model.alphas_cumprod).reshape(truth.shape)
    assert torch.allclose(state["z_t"][est], z_est[est], atol=1e-5)
    assert bool((state["z_t"][~est][:3] == 0).all())                     # regression windows: the empty state
