"""The dual motion model over clips of any length: the initial estimate (regression mode) and the clip prior.

Both stream the network the way :func:`server.regressor.predict.regress_temporal` streams the temporal regressor:
each continuous sequence (:func:`~server.regressor.predict.sequences`: a segment between detection gaps, or one
stride phase above 75 fps) in blocks of ``block`` output frames, each read with ``context`` frames on either
side, the sequence's first and last frames repeated past its ends. Time is linear and memory flat in the clip's
length, and the output does not depend on the block size.

- :func:`regress_dual` / :func:`dual_regression`: regression mode (t = T - 1, empty state, condition on) ->
  the Estimate, and the swap head's per-frame probabilities (arms, legs swapped left/right).
- :class:`DualPrior`: the diffusion prior for ScoreHMR (the :class:`~server.diffusion.windows.WindowedPrior`
  interface: ``eps(x_t (N, 144), t, cond, cond_mask) -> (N, 144)``, ``normalize`` / ``denormalize`` /
  ``x_mean`` / ``x_std`` / ``config``). It holds each clip's evidence (the per-frame regressor's outputs and
  the network's input projection of them), computed once, so a call costs the temporal convolutions only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning
from ..body.rot6d import POSE_6D_DIM
from ..fitting.state import Estimate, Observations
from ..regressor.predict import TEMPORAL_BLOCK, context_blocks, pelvis_transl, sequences
from ..diffusion.windows import ModelState
from .dual_network import DualMotionModel, v_to_eps

EVIDENCE_CHUNK = 4096   # frames per pass of the per-frame regressor when a clip's evidence is computed


@dataclass(frozen=True)
class SequenceEvidence:
    """One continuous sequence of a clip stack: rows (n,) into the stacked frames, its frame rate, the
    evidence (:meth:`DualMotionModel.evidence`, each (n, ...)) and the person boxes (n, 3)."""

    rows: Tensor
    fps: float
    evidence: Dict[str, Tensor]
    box: Tensor


@torch.no_grad()
def sequence_evidence(model: DualMotionModel, obs: Observations, offset: int = 0) -> List[SequenceEvidence]:
    """A clip's observations -> the evidence of each of its sequences (rows shifted by ``offset``)."""
    out = []
    for rows, fps in sequences(obs):
        part = obs.select(rows)
        features, box = model.frame.features(part.keypoints, part.world, part.focal, part.centre)
        chunks = [model.evidence(features[s:s + EVIDENCE_CHUNK], model.frame(features[s:s + EVIDENCE_CHUNK]))
                  for s in range(0, len(rows), EVIDENCE_CHUNK)]
        evidence = {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
        out.append(SequenceEvidence(rows + offset, fps, evidence, box))
    return out


def stream(model: DualMotionModel, seq: SequenceEvidence, z_t: Tensor, t: Union[int, Tensor], flag: Tensor,
           block: int = TEMPORAL_BLOCK) -> Dict[str, Tensor]:
    """The network over one sequence of n frames in blocks: z_t (n, 144), t an int or (n,), flag (n,) bool
    (False: no evidence) -> the outputs of :meth:`DualMotionModel.forward` for all n frames, each (n, ...)."""
    n, k = z_t.shape[0], model.context
    rate = torch.tensor([seq.fps])
    parts: List[Dict[str, Tensor]] = []
    for _, _, rows in context_blocks(n, k, block):
        tt = t if isinstance(t, int) else t[rows][None]
        ev = {key: v[rows][None] for key, v in seq.evidence.items()}
        out = model(z_t[rows][None], tt, ev, flag[rows][None], rate)
        parts.append({key: v[0] for key, v in out.items()})
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


@torch.no_grad()
def dual_regression(model: DualMotionModel, skinning: LandmarkSkinning, obs: Observations,
                    block: int = TEMPORAL_BLOCK) -> Tuple[Estimate, Tensor]:
    """Observations of N frames -> (Estimate (x (N, 144), betas (N, B), transl (N, 3)), swap probabilities
    (N, 2): arms, legs) from regression mode, streamed (module docstring)."""
    if len(obs) == 0:
        raise ValueError("the dual motion model needs at least one frame")
    n, last = len(obs), model.config.num_timesteps - 1
    x, transl, swap = torch.empty(n, POSE_6D_DIM), torch.empty(n, 3), torch.empty(n, 2)
    betas = torch.empty(n, model.frame.config.num_betas)
    for seq in sequence_evidence(model, obs):
        m = len(seq.rows)
        out = stream(model, seq, torch.zeros(m, POSE_6D_DIM), last, torch.ones(m, dtype=torch.bool), block)
        x[seq.rows], betas[seq.rows], swap[seq.rows] = out["x"], out["betas"], torch.sigmoid(out["swap"])
        transl[seq.rows] = pelvis_transl(skinning, out["cam"], seq.box, out["betas"], obs.select(seq.rows))
    return Estimate(x, betas, transl), swap


def regress_dual(model: DualMotionModel, skinning: LandmarkSkinning, obs: Observations,
                 block: int = TEMPORAL_BLOCK) -> Estimate:
    """Observations of N frames -> the initial Estimate from regression mode (:func:`dual_regression`)."""
    return dual_regression(model, skinning, obs, block)[0]


class DualPrior(ModelState):
    """The dual motion model as ScoreHMR's prior over clips laid end to end (module docstring).

    ``clips``: the Observations of each clip (the N rows of every call are their frames in order).
    ``conditional`` False: the unconditional prior everywhere (the evidence is never read)."""

    def __init__(self, model: DualMotionModel, clips: Sequence[Observations], conditional: bool = True,
                 block: int = TEMPORAL_BLOCK) -> None:
        self.model, self.conditional, self.block = model, conditional, block
        self.seqs: List[SequenceEvidence] = []
        offset = 0
        for obs in clips:
            if len(obs) == 0:
                raise ValueError("every clip of the dual prior needs at least one frame")
            self.seqs += sequence_evidence(model, obs, offset)
            offset += len(obs)
        self.frames = offset

    @classmethod
    def without_evidence(cls, model: DualMotionModel, clips: Sequence[int], fps: float,
                         block: int = TEMPORAL_BLOCK) -> "DualPrior":
        """The unconditional prior over clips of the given lengths at ``fps`` (keyframe cleanup: no footage, so
        no evidence to hold; each clip is one continuous sequence)."""
        prior = cls.__new__(cls)
        prior.model, prior.conditional, prior.block = model, False, block
        prior.seqs, offset = [], 0
        width, nb = model.evidence_in.out_features, model.frame.config.num_betas
        for n in (int(c) for c in clips):
            if n < 1:
                raise ValueError(f"clip lengths must be >= 1, got {list(clips)}")
            empty = {"proj": torch.zeros(n, width), "x": torch.zeros(n, POSE_6D_DIM), "cam": torch.zeros(n, 3),
                     "betas": torch.zeros(n, nb)}
            prior.seqs.append(SequenceEvidence(torch.arange(offset, offset + n), float(fps), empty, torch.zeros(n, 3)))
            offset += n
        prior.frames = offset
        return prior

    def __call__(self, x_t: Tensor, t: Union[Tensor, int], cond: Optional[Tensor] = None,
                 cond_mask: Optional[Tensor] = None) -> Tensor:
        """x_t (N, 144) z-scored, t an int or (N,), cond (N, C) or None, cond_mask (N,) bool or None -> eps (N, 144).

        As for the other priors, ``cond`` None means unconditional on every frame and ``cond_mask`` False
        withholds a frame's evidence; the values of ``cond`` are not read (the prior holds its own evidence)."""
        if x_t.shape[0] != self.frames:
            raise ValueError(f"this prior covers {self.frames} frames, got {x_t.shape[0]}")
        tt = torch.as_tensor(t, dtype=torch.long)
        if tt.dim() == 1 and bool((tt == tt[0]).all()):
            tt = tt[0]
        step: Union[int, Tensor] = int(tt) if tt.dim() == 0 else tt
        on = self.conditional and cond is not None
        flag = torch.full((self.frames,), on, dtype=torch.bool)
        if on and cond_mask is not None:
            flag = flag & cond_mask.to(torch.bool)
        eps = torch.empty_like(x_t)
        for seq in self.seqs:
            ts = step if isinstance(step, int) else step[seq.rows]
            out = stream(self.model, seq, x_t[seq.rows], ts, flag[seq.rows], self.block)
            eps[seq.rows] = v_to_eps(x_t[seq.rows], ts, out["v"], self.model.alphas_cumprod.to(x_t))
        return eps
