"""The phenotype map: gender, height, weight and muscle to betas and back, the stature reached, the slider
directions (exactly linear), and bodies without a map."""
from __future__ import annotations

import numpy as np
import pytest

from server.body.model import BodyModel, default_body_model_path, load_body_model, shaped_vertices
from server.body.phenotype import (SLIDERS, phenotype_of, shaped_as_asked, slider_directions,
                                   slider_values, stature, with_phenotype, with_stature)
from server.body.phenotype_map import phenotype_map_of
from server.errors import BodyModelError
from server.options import ShapeRequest


@pytest.fixture(scope="module")
def body() -> BodyModel:
    return load_body_model(default_body_model_path())


def test_the_built_in_body_has_the_map_an_smpl_file_not(body: BodyModel, model_files) -> None:
    assert body.phenotype is not None and body.phenotype.labels[:2] == ("gender", "age")
    assert load_body_model(model_files["smpl-npz"]).phenotype is None
    with pytest.raises(ValueError, match="cannot be set"):
        shaped_as_asked(load_body_model(model_files["smpl-npz"]), np.zeros(10), ShapeRequest(gender=0.0))


def test_mean_body_and_the_round_trip(body: BodyModel) -> None:
    pm = body.phenotype
    np.testing.assert_allclose(phenotype_of(pm, np.zeros(10)), pm.mean, atol=0.05)
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = pm.mean + pm.std * rng.normal(size=len(pm.labels))
        betas = pm.to_betas @ ((p - pm.mean) / pm.std)
        np.testing.assert_allclose(phenotype_of(pm, betas), p, atol=1e-6)


def test_setting_a_phenotype_keeps_the_others_and_the_residual(body: BodyModel) -> None:
    pm = body.phenotype
    betas = np.random.default_rng(1).normal(size=10)
    before = phenotype_of(pm, betas)
    after = with_phenotype(pm, betas, {"gender": 0.0, "muscle": 0.9})
    p = phenotype_of(pm, after)
    assert p[pm.index("gender")] == pytest.approx(0.0, abs=1e-9) and p[pm.index("muscle")] == pytest.approx(0.9)
    for label in ("age", "weight", "height", "proportions"):
        assert p[pm.index(label)] == pytest.approx(before[pm.index(label)], abs=1e-9)
    residual = lambda b: b - pm.to_betas @ ((phenotype_of(pm, b) - pm.mean) / pm.std)   # noqa: E731
    np.testing.assert_allclose(residual(after), residual(betas), atol=1e-9)


def test_male_reads_male(body: BodyModel) -> None:
    """Anny's gender 0 (male) against 1 (female), the rest average: broader shoulders for the hips, taller."""
    pm = body.phenotype
    shapes = {g: with_phenotype(pm, np.zeros(10), {"gender": g}) for g in (0.0, 1.0)}
    joints = {g: body.J_regressor @ shaped_vertices(body, b) for g, b in shapes.items()}
    assert stature(body, shapes[0.0]) > stature(body, shapes[1.0]) + 0.05
    shoulders = {g: np.linalg.norm(j[16] - j[17]) for g, j in joints.items()}
    assert shoulders[0.0] > shoulders[1.0]


@pytest.mark.parametrize("metres", [1.55, 1.7, 1.92])
def test_stature_is_reached_keeping_the_build(body: BodyModel, metres: float) -> None:
    pm = body.phenotype
    start = with_phenotype(pm, np.zeros(10), {"gender": 0.2, "weight": 0.7})
    tall = with_stature(body, pm, start, metres)
    assert stature(body, tall) == pytest.approx(metres, abs=1e-4)
    p, q = phenotype_of(pm, start), phenotype_of(pm, tall)
    for label in ("gender", "weight", "muscle", "age", "proportions"):
        assert q[pm.index(label)] == pytest.approx(p[pm.index(label)], abs=1e-9)
    with pytest.raises(ValueError, match="outside"):
        with_stature(body, pm, start, 0.5)


def test_shaped_as_asked(body: BodyModel) -> None:
    betas = np.random.default_rng(2).normal(size=10) * 0.5
    np.testing.assert_array_equal(shaped_as_asked(body, betas, ShapeRequest()), betas)
    asked = shaped_as_asked(body, betas, ShapeRequest(height=1.83, gender=0.1, weight=0.4, muscle=0.8))
    values = slider_values(body, body.phenotype, asked)
    np.testing.assert_allclose(values, [0.1, 1.83, 0.4, 0.8], atol=1e-3)


def test_slider_directions_are_the_change_per_unit(body: BodyModel) -> None:
    pm = body.phenotype
    betas = with_phenotype(pm, np.zeros(10), {"gender": 0.3})
    dirs = slider_directions(body, pm, betas)
    assert dirs.shape == (len(SLIDERS), body.num_vertices, 3)
    base = shaped_vertices(body, betas)
    moved = shaped_vertices(body, with_phenotype(pm, betas, {"weight": phenotype_of(pm, betas)[pm.index("weight")]
                                                             + 0.2}))
    np.testing.assert_allclose(moved - base, 0.2 * dirs[SLIDERS.index("weight")], atol=1e-9)
    taller = base + 0.05 * dirs[SLIDERS.index("height")]
    assert np.ptp(taller[:, 1]) - np.ptp(base[:, 1]) == pytest.approx(0.05, abs=2e-3)


def test_a_damaged_map_is_refused(tmp_path) -> None:
    with np.load(default_body_model_path()) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["phenotype_to_betas"] = arrays["phenotype_to_betas"][:, :4]
    assert phenotype_map_of({k: arrays[k] for k in ("phenotype_labels", "shape_mean_phenotype")}) is None
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(BodyModelError, match="phenotype map"):
        load_body_model(path)
