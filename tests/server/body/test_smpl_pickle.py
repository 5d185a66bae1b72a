"""The restricted SMPL unpickler: official-style pickles load without chumpy/scipy; anything else is refused."""
from __future__ import annotations

import os
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest

from server.body.smpl_pickle import CsrStub, load_smpl_pickle, loads_restricted
from server.errors import BodyModelError

from .official_files import FakeCh, FakeChAdd, FakeCsc, Py2Pickler, official_dict, pickle_with_fakes, \
    write_official_pkl


def _small_arrays() -> dict:
    rng = np.random.default_rng(3)
    j_reg = np.where(rng.random((24, 40)) < 0.2, rng.random((24, 40)), 0.0)
    return {"v_template": rng.normal(size=(40, 3)), "shapedirs": rng.normal(size=(40, 3, 10)),
            "posedirs": rng.normal(size=(40, 3, 207)), "weights": rng.random((40, 24)), "J_regressor": j_reg,
            "f": np.arange(30, dtype=np.uint32).reshape(10, 3), "bs_style": np.array("lbs"),
            "kintree_table": np.array([[4294967295] + list(range(23)), list(range(24))], dtype=np.int64)}


@pytest.mark.parametrize("style", ["py2", "proto1", "proto2", "proto4", "proto5"])
def test_official_style_pickle_round_trips(tmp_path: Path, style: str) -> None:
    arrays = _small_arrays()
    data = load_smpl_pickle(write_official_pkl(tmp_path / "model.pkl", arrays, style))
    assert set(data) == set(arrays)
    for key in ("v_template", "shapedirs", "posedirs", "weights", "J_regressor", "f", "kintree_table"):
        np.testing.assert_array_equal(data[key], arrays[key], err_msg=key)
    assert data["bs_style"] == "lbs"


def test_py2_pickle_really_uses_python2_names(tmp_path: Path) -> None:
    """The protocol-1 file goes through copy_reg._reconstructor / __builtin__.object like Python 2 files."""
    raw = write_official_pkl(tmp_path / "p1.pkl", _small_arrays(), "proto1").read_bytes()
    assert b"copy_reg\n_reconstructor" in raw and b"__builtin__\nobject" in raw and b"chumpy.ch\nCh" in raw
    py2 = write_official_pkl(tmp_path / "p2.pkl", _small_arrays(), "py2").read_bytes()
    opcodes = {op.name for op, _, _ in pickletools.genops(py2)}
    assert "SHORT_BINSTRING" in opcodes and not opcodes & {"BINUNICODE", "SHORT_BINBYTES", "BINBYTES"}
    assert b"scipy.sparse.csc\ncsc_matrix" in py2


def test_derived_chumpy_expression_is_refused_by_name() -> None:
    raw = pickle_with_fakes(lambda: {"v_template": FakeChAdd(FakeCh(np.zeros(3)), FakeCh(np.ones(3)))})
    with pytest.raises(BodyModelError, match=r"chumpy expression \(chumpy\.ch_ops\.add\)"):
        loads_restricted(raw)


def test_csr_stub_densifies() -> None:
    dense = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    stub = CsrStub()
    stub.__setstate__({"data": np.array([2.0, 1.0, 3.0]), "indices": np.array([1, 0, 2]),
                       "indptr": np.array([0, 1, 3]), "_shape": (2, 3), "format": "csr"})
    np.testing.assert_array_equal(stub.toarray(), dense)


def test_malformed_sparse_matrix_is_refused() -> None:
    def build():
        csc = FakeCsc(np.eye(3))
        csc.indices = np.array([0, 1, 7], dtype=np.int32)  # row 7 of a 3-row matrix
        return {"J_regressor": csc}
    with pytest.raises(BodyModelError, match="malformed"):
        loads_restricted(pickle_with_fakes(build))


class _RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evals:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_os_system_is_refused_without_running(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    raw = pickle.dumps({"v_template": _RunsShell(marker)}, protocol=protocol)
    with pytest.raises(BodyModelError, match=r"system") as err:
        loads_restricted(raw)
    assert not marker.exists()
    assert err.value.code == "bad_body_model" and err.value.hint


def test_eval_is_refused() -> None:
    with pytest.raises(BodyModelError, match=r"(__builtin__|builtins)\.eval"):
        loads_restricted(pickle.dumps(_Evals(), protocol=2))


@pytest.mark.parametrize("raw, match", [
    (b"ccopy_reg\n_reconstructor\n(cchumpy.ch\nCh\nc__builtin__\nset\nNtR.", "rebuild"),
    (b"c_codecs\nencode\n(Vabc\nVrot13\ntR.", "codec"),
    (b"cnumpy\nload\n(Vx.npy\ntR.", r"numpy\.load"),
    (b"cbuiltins\ngetattr\n(cbuiltins\nobject\nV__subclasses__\ntR.", r"builtins\.getattr"),
])
def test_handcrafted_escapes_are_refused(raw: bytes, match: str) -> None:
    with pytest.raises(BodyModelError, match=match):
        loads_restricted(raw)


@pytest.mark.parametrize("raw", [b"", b"\x80\x02}q\x00(", b"not a pickle at all", b"\x80\x05\x95garbage"])
def test_garbage_is_a_clear_error(raw: bytes) -> None:
    with pytest.raises(BodyModelError, match="not a readable pickle|never contains|empty"):
        loads_restricted(raw)


def test_pickle_of_a_list_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(BodyModelError, match="not an SMPL model dictionary"):
        load_smpl_pickle(path)


def test_official_dict_helper_keeps_plain_arrays() -> None:
    """Guard for the fixture itself: which keys become chumpy / sparse stand-ins."""
    out = official_dict(_small_arrays())
    assert isinstance(out["v_template"], FakeCh) and isinstance(out["J_regressor"], FakeCsc)
    assert isinstance(out["f"], np.ndarray) and Py2Pickler.dispatch[str] is not pickle._Pickler.dispatch[str]
