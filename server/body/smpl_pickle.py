"""Read official SMPL ``.pkl`` files without chumpy, scipy or an unrestricted unpickler.

The official SMPL model files (``basicModel_*_lbs_10_207_0_v1.0.0.pkl``, ``SMPL_*.pkl``) are Python 2 pickles
of a dict whose arrays are numpy arrays, chumpy ``Ch`` objects (``v_template``, ``shapedirs``, ``posedirs``,
``weights``) and scipy sparse matrices (``J_regressor``). :class:`SmplUnpickler` resolves only the globals those
files need, each to a safe stand-in:

- numpy array / dtype / scalar reconstruction (``numpy.core.*`` and ``numpy._core.*`` spellings);
- Python 2's ``copy_reg._reconstructor`` (only with ``object`` as base), ``__builtin__.object`` and
  ``set``/``frozenset`` (chumpy keeps a ``_dirty_vars`` set);
- ``_codecs.encode`` with latin-1 only (how Python 3 writes ``bytes`` in protocol-2 pickles);
- every ``scipy.sparse`` csc/csr matrix class -> :class:`SparseStub` (keeps data/indices/indptr/shape,
  densified with numpy);
- every ``chumpy`` class -> a :class:`ChumpyStub` subclass named after it (a plain ``Ch`` yields its ``x``
  array; a derived chumpy expression is refused with a clear error).

Any other global (``os.system``, ``builtins.eval``, ...) raises :class:`BodyModelError` naming it, before
anything is called. Pickles are read with ``encoding='latin1'`` as Python 2 numpy pickles require.
"""
from __future__ import annotations

import builtins
import codecs
import io
import logging
import pickle
from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Type, cast

import numpy as np

from ..errors import BodyModelError

log = logging.getLogger(__name__)

_RECONSTRUCT = cast(Callable, np.ndarray((0,)).__reduce__()[0])   # numpy.(_)core.multiarray._reconstruct
_SCALAR = cast(Callable, np.float64(0.0).__reduce__()[0])         # numpy.(_)core.multiarray.scalar
_FROMBUFFER = cast(Callable, np.zeros(1).__reduce_ex__(5)[0])     # numpy.(_)core.numeric._frombuffer (protocol 5)
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric",
                  "numpy")


class SparseStub:
    """Stand-in for a pickled ``scipy.sparse`` csc/csr matrix: captures its state, densifies with numpy."""

    FORMAT = ""

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.state = dict(state)

    def toarray(self) -> np.ndarray:
        """(rows, cols) dense float64 array of the matrix."""
        st = getattr(self, "state", None)
        if st is None:
            raise BodyModelError("A sparse matrix in the file has no contents.")
        shape = st.get("_shape", st.get("shape"))
        fmt = st.get("format", self.FORMAT)
        if shape is None or any(k not in st for k in ("data", "indices", "indptr")) or fmt not in ("csc", "csr"):
            raise BodyModelError(f"A sparse matrix in the file is incomplete (keys: {sorted(st)}).")
        rows, cols = int(shape[0]), int(shape[1])
        data, indices = np.asarray(st["data"], np.float64), np.asarray(st["indices"], np.int64)
        indptr = np.asarray(st["indptr"], np.int64)
        major = cols if fmt == "csc" else rows
        minor = rows if fmt == "csc" else cols
        if indptr.shape != (major + 1,) or indptr[-1] > len(data) or len(indices) < indptr[-1] or \
                (len(indices) and (indices.min() < 0 or indices.max() >= minor)):
            raise BodyModelError(f"A sparse {fmt} matrix in the file is malformed (shape {rows}x{cols}).")
        dense = np.zeros((major, minor))
        owner = np.repeat(np.arange(major), np.diff(indptr))
        np.add.at(dense, (owner, indices[:indptr[-1]]), data[:indptr[-1]])
        return dense.T.copy() if fmt == "csc" else dense


class CscStub(SparseStub):
    FORMAT = "csc"


class CsrStub(SparseStub):
    FORMAT = "csr"


class ChumpyStub:
    """Stand-in for any pickled chumpy object; ``CLASS_NAME`` says which chumpy class it replaced."""

    CLASS_NAME = "chumpy.ch.Ch"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def toarray(self) -> np.ndarray:
        """The array of a plain ``chumpy.ch.Ch`` (its ``x``); derived chumpy expressions are refused."""
        st = getattr(self, "state", None)
        if self.CLASS_NAME == "chumpy.ch.Ch" and isinstance(st, dict) and "x" in st:
            return np.asarray(to_plain(st["x"]))
        raise BodyModelError(f"The file holds a chumpy expression ({self.CLASS_NAME}), not a plain array; "
                             "it cannot be read without chumpy.")


_CHUMPY_STUBS: Dict[str, Type[ChumpyStub]] = {}


def _chumpy_stub(module: str, name: str) -> Type[ChumpyStub]:
    """One ChumpyStub subclass per chumpy class name (so errors can name the class)."""
    full = f"{module}.{name}"
    if full not in _CHUMPY_STUBS:
        _CHUMPY_STUBS[full] = type(f"ChumpyStub_{name}", (ChumpyStub,), {"CLASS_NAME": full})
    return _CHUMPY_STUBS[full]


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """Python 2 ``copy_reg._reconstructor`` limited to ``base is object`` and allowed stand-in classes."""
    if base is not object or not isinstance(cls, type) or not issubclass(cls, (SparseStub, ChumpyStub)):
        raise BodyModelError(f"The file asks to rebuild {getattr(cls, '__name__', cls)!r} from "
                             f"{getattr(base, '__name__', base)!r}, which an SMPL model never needs.")
    return object.__new__(cls)


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes; only latin-1 is allowed."""
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(text, str):
        raise BodyModelError(f"The file uses the text codec {encoding!r}, which an SMPL model never needs.")
    return text.encode("latin1")


_ALLOWED: Dict[Tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _RECONSTRUCT for m in _NUMPY_MODULES[:2]},
    **{(m, "scalar"): _SCALAR for m in _NUMPY_MODULES[:2]},
    **{(m, "_frombuffer"): _FROMBUFFER for m in _NUMPY_MODULES[2:4]},
    **{(m, n): getattr(np, n) for m in _NUMPY_MODULES for n in ("ndarray", "dtype")},
    ("copy_reg", "_reconstructor"): _safe_reconstructor,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    **{(m, n): getattr(builtins, n) for m in ("__builtin__", "builtins") for n in ("object", "set", "frozenset")},
    ("_codecs", "encode"): _latin1_encode,
}


class SmplUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals official SMPL files need (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_stub(module, name)
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix"):
            return CscStub if name == "csc_matrix" else CsrStub
        log.warning("refused pickle global %s.%s", module, name)
        raise BodyModelError(f"The file refers to {module}.{name}, which an SMPL model file never contains; "
                             "it was not loaded (it may not be an SMPL model, or it may be unsafe).")


def to_plain(value: Any) -> Any:
    """Replace stand-ins by numpy arrays, recursively through dicts, lists and tuples."""
    if isinstance(value, (SparseStub, ChumpyStub)):
        return value.toarray()
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(v) for v in value)
    return value


def loads_restricted(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`SmplUnpickler` (latin-1 strings) and convert stand-ins to arrays."""
    try:
        obj = SmplUnpickler(io.BytesIO(data), encoding="latin1").load()
    except BodyModelError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, UnicodeError, MemoryError, RecursionError, OverflowError) as exc:
        log.debug("unpickling failed: %s: %s", type(exc).__name__, exc)
        what = "it is empty (0 bytes)" if not data else \
            "it is not a readable pickle (another kind of file, or one cut short or damaged)"
        raise BodyModelError(f"The file is not a usable SMPL model: {what}.") from exc
    return to_plain(obj)


def load_smpl_pickle(path: Path) -> Dict[str, Any]:
    """Read an official SMPL ``.pkl`` into a dict of numpy arrays (and plain values). Raises BodyModelError."""
    try:
        obj = loads_restricted(Path(path).read_bytes())
    except BodyModelError as exc:
        if exc.message.startswith("The file "):
            raise BodyModelError(f"{Path(path).name}{exc.message[len('The file'):]}", exc.hint) from exc
        raise
    if not isinstance(obj, dict):
        raise BodyModelError(f"{Path(path).name} holds a {type(obj).__name__}, not an SMPL model dictionary.")
    return {str(k): v for k, v in obj.items()}
