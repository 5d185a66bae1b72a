"""Fake official SMPL files for tests: pickles that reference chumpy and scipy.sparse classes, no licence needed.

:func:`fake_official_modules` puts stand-in ``chumpy.ch.Ch``, ``chumpy.ch_ops.add`` and
``scipy.sparse.csc.csc_matrix`` classes into ``sys.modules`` (restored afterwards) so the pickler writes the
same global references as the official files. :class:`Py2Pickler` writes ``bytes`` and ``str`` as Python 2
``str`` opcodes (BINSTRING), as a Python 2 ``cPickle.dump(..., -1)`` does.
"""
from __future__ import annotations

import contextlib
import pickle
import struct
import sys
import types
from pathlib import Path
from typing import Any, Dict, Iterator

import numpy as np


class FakeCh:
    """Pickles like chumpy's ``Ch`` (state: ``__dict__`` with ``x`` and a ``_dirty_vars`` set)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.asarray(x)
        self._dirty_vars = set()
        self._itr = None
        self._make_dense = False
        self._make_sparse = False
        self._depends_on_deps = {}

    def __getstate__(self) -> Dict[str, Any]:
        return dict(self.__dict__)


class FakeChAdd(FakeCh):
    """A derived chumpy expression (``chumpy.ch_ops.add``): no ``x`` of its own."""

    def __init__(self, a: FakeCh, b: FakeCh) -> None:
        self.a, self.b = a, b
        self._dirty_vars = set()


class FakeCsc:
    """Pickles like an old scipy ``csc_matrix`` (``__dict__`` with data/indices/indptr/_shape/format)."""

    def __init__(self, dense: np.ndarray) -> None:
        cols = [np.flatnonzero(dense[:, c]) for c in range(dense.shape[1])]
        self.indices = np.concatenate(cols).astype(np.int32)
        self.data = np.concatenate([dense[idx, c] for c, idx in enumerate(cols)])
        self.indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])]).astype(np.int32)
        self._shape = dense.shape
        self.format = "csc"
        self.maxprint = 50


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        value.__module__ = name
        value.__qualname__ = value.__name__ = key
        setattr(mod, key, value)
    return mod


@contextlib.contextmanager
def fake_official_modules() -> Iterator[None]:
    """Temporarily register chumpy / scipy.sparse stand-ins under their real module names."""
    fakes = {"chumpy": _module("chumpy"), "chumpy.ch": _module("chumpy.ch", Ch=FakeCh),
             "chumpy.ch_ops": _module("chumpy.ch_ops", add=FakeChAdd), "scipy": _module("scipy"),
             "scipy.sparse": _module("scipy.sparse"),
             "scipy.sparse.csc": _module("scipy.sparse.csc", csc_matrix=FakeCsc)}
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler writing ``bytes``/``str`` as Python 2 ``str`` (BINSTRING / SHORT_BINSTRING)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: Any) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def official_dict(arrays: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """SMPL arrays as the official .pkl holds them: Ch objects, a csc J_regressor, plain arrays and strings."""
    out: Dict[str, Any] = {}
    for key, value in arrays.items():
        if key in ("v_template", "shapedirs", "posedirs", "weights"):
            out[key] = FakeCh(value)
        elif key == "J_regressor":
            out[key] = FakeCsc(value)
        elif key in ("bs_style", "bs_type"):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def write_official_pkl(path: Path, arrays: Dict[str, np.ndarray], style: str = "py2") -> Path:
    """Write ``arrays`` as an official-looking SMPL .pkl. style: 'py2' (Python 2 protocol 2), or
    'protoN' (this Python's pickle protocol N, N in 1..5)."""
    with fake_official_modules():
        obj = official_dict(arrays)
        with path.open("wb") as fp:
            if style == "py2":
                Py2Pickler(fp, protocol=2).dump(obj)
            else:
                pickle.dump(obj, fp, protocol=int(style[-1]))
    return path


def pickle_with_fakes(obj_factory: Any, protocol: int = 2) -> bytes:
    """Pickle whatever ``obj_factory()`` builds with the fake modules registered."""
    with fake_official_modules():
        return pickle.dumps(obj_factory(), protocol=protocol)
