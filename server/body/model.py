"""Body model files in SMPL format: loading, checking, shaping and (reference) skinning, numpy only.

One :class:`BodyModel` serves the built-in open body (``server/assets/body/open_body_neutral.npz``) and the
official SMPL or SMPL-H files users may bring (``.pkl`` with chumpy objects, read by :mod:`.smpl_pickle`, or
``.npz``). The pipeline works in SMPL's 24-joint layout; a model with fingers also carries a
:class:`~.smplh.HandRig` (``BodyModel.hands``, None for SMPL files, which have no fingers).

File format (our ``.npz`` and SMPL's own): SMPL's key names, ``v_template`` (V, 3), ``shapedirs`` (V, 3, B),
``posedirs`` (V, 3, 207) or (207, V*3), ``J_regressor`` (24, V), ``weights`` (V, 24), ``kintree_table`` (2, 24)
or ``parents`` (24,), ``f`` or ``faces`` (F, 3); optional ``landmark_regressor`` (33, V) in BlazePose order
(required unless the mesh has SMPL's 6890 vertices, where it is built from known vertex ids, see
:mod:`.smpl_landmarks`) and optional ``name`` (a string). A missing ``posedirs`` means no pose correctives.
Optional fingers (the built-in body): ``hands_J_regressor`` (30, V), ``hands_weights`` (V, 52),
``hands_kintree_table`` (2, 52) (or ``hands_parents`` (52,)) and ``hands_entry`` (2, 5, optional, default
each finger's joint 1), see :class:`~.smplh.HandRig`.
Optional phenotype map (the built-in body): ``phenotype_labels`` (P,), ``shape_mean_phenotype`` (P,),
``shape_phenotype_std`` (P,), ``phenotype_to_betas`` (B, P), see :mod:`.phenotype`.
SMPL-H files (52 joints): ``J_regressor`` (52, V), ``weights`` (V, 52), ``kintree_table`` (2, 52) (or
``parents``), ``posedirs`` (V, 3, 459) or (459, V*3) or absent; read as their 24-joint view plus the HandRig
(:mod:`.smplh`); their ``hands_components*`` / ``hands_mean*`` (MANO's PCA hand space) are not used.
SMPL-X files (55 joints) are refused.
Arrays pickled inside an ``.npz`` (object dtype) are read with the same restricted unpickler as ``.pkl`` files.
"""
from __future__ import annotations

import logging
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Literal, Mapping, Optional, Tuple, Union, overload

import numpy as np

from ..errors import BodyModelError
from ..files import kind_problem
from .phenotype_map import PHENOTYPE_KEYS, PhenotypeMap, phenotype_map_of
from .layout import (FINGER_NAMES, JOINT_LANDMARKS, NUM_FINGER_JOINTS, NUM_JOINTS, NUM_LANDMARKS,
                     NUM_SMPLH_JOINTS, SMPL_PARENTS, SMPLH_PARENTS)
from .rotations import forward_kinematics_rotmat, rotvec_to_rotmat
from .smpl_landmarks import SMPL_NUM_VERTICES, smpl_landmark_regressor
from .smpl_pickle import load_smpl_pickle, loads_restricted, to_plain
from .smplh import (NUM_SMPLH_POSE_BASIS, HandRig, check_hand_entry, default_hand_entry, smpl_view,
                    smplh_hand_rig)

log = logging.getLogger(__name__)

NUM_POSE_BASIS = 9 * (NUM_JOINTS - 1)  # 207: one 3x3 (R - I) per non-root joint
NUM_SMPLX_JOINTS = 55
_LAYOUT_HINT = ("Pick an SMPL model file (24 joints, e.g. basicModel_neutral_lbs_10_207_0_v1.0.0.pkl) or an SMPL-H "
                "one (52 joints, e.g. SMPLH_male.pkl), or leave empty for the built-in open body.")
_ASSETS = Path(__file__).resolve().parent.parent / "assets" / "body"


def default_body_model_path() -> Path:
    """The built-in open body, resolved next to this package (never relative to the working directory)."""
    return _ASSETS / "open_body_neutral.npz"


@dataclass(frozen=True, eq=False)
class BodyModel:
    """An SMPL-format body model; all arrays float64 (faces, parents int64) and read-only.

    v_template (V, 3) rest mesh; shapedirs (V, 3, B) shape blend shapes; posedirs (V, 3, 207) pose correctives,
    multiplied by the flattened ``R_j - I`` of joints 1..23 (SMPL's order, row-major 3x3); J_regressor (24, V);
    weights (V, 24) skinning weights; parents (24,) with -1 at the root; faces (F, 3); landmark_regressor
    (33, V) BlazePose landmarks as vertex combinations; ``hands`` the fingers in SMPL-H's layout (None when the
    model has none, e.g. official SMPL); ``phenotype`` the map from
    gender, height, weight and muscle to betas (:mod:`.phenotype`; the built-in body's, None for other files); ``name`` for logs; ``source`` the file it came from.
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray
    landmark_regressor: np.ndarray
    hands: Optional[HandRig] = None
    phenotype: Optional[PhenotypeMap] = None
    name: str = "body"
    source: str = ""

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def has_pose_correctives(self) -> bool:
        """Whether any pose corrective is non-zero (the fast path skips them otherwise)."""
        return bool(np.any(self.posedirs))


def _fail(source: str, what: str, hint: Optional[str] = None) -> BodyModelError:
    message = f"{Path(source).name or source} is not a usable SMPL body model: {what}."
    return BodyModelError(message) if hint is None else BodyModelError(message, hint)


@overload
def _array(data: Mapping[str, Any], keys: Tuple[str, ...], source: str, dtype: type = ...,
           required: Literal[True] = ...) -> np.ndarray: ...


@overload
def _array(data: Mapping[str, Any], keys: Tuple[str, ...], source: str, dtype: type = ...,
           required: bool = ...) -> Optional[np.ndarray]: ...


def _array(data: Mapping[str, Any], keys: Tuple[str, ...], source: str, dtype: type = np.float64,
           required: bool = True) -> Optional[np.ndarray]:
    """The first present key of ``keys`` as a finite numpy array of ``dtype`` (None when optional and absent)."""
    key = next((k for k in keys if k in data), None)
    if key is None:
        if required:
            raise _fail(source, f"it has no '{keys[0]}' array (keys found: {', '.join(sorted(data)) or 'none'})")
        return None
    held = kind_problem(data[key]) if isinstance(data[key], np.ndarray) else None
    if held is not None:
        raise _fail(source, f"'{key}' holds {held} where numbers belong")
    try:
        arr = np.array(data[key], dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        log.debug("'%s' of %s: %s", key, source, exc)
        raise _fail(source, f"'{key}' is not an array of numbers") from exc
    if not np.all(np.isfinite(arr)):
        raise _fail(source, f"'{key}' contains NaN or infinite values")
    if np.issubdtype(dtype, np.integer):
        if not np.all(arr == np.round(arr)) or (arr.size and np.abs(arr).max() >= 2 ** 62):
            raise _fail(source, f"'{key}' must hold whole numbers (vertex or joint indices)")
    return arr.astype(dtype)


def _expect(arr: np.ndarray, shape: Tuple[Optional[int], ...], key: str, source: str) -> None:
    """Raise unless ``arr.shape`` matches ``shape`` (None = any size)."""
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise _fail(source, f"'{key}' has shape {tuple(arr.shape)}, expected {want}")


def _read_parents(data: Mapping[str, Any], source: str, parents_key: str, table_key: str) -> np.ndarray:
    """(J,) parents from ``parents_key`` or from the kinematic tree ``table_key`` (2, J); the root's set to -1."""
    if parents_key in data:
        parents = _array(data, (parents_key,), source).reshape(-1).astype(np.int64)
    else:
        table = _array(data, (table_key,), source, np.float64)
        if table.ndim != 2 or table.shape[0] != 2:
            raise _fail(source, f"'{table_key}' has shape {tuple(table.shape)}, expected (2, joints)")
        parents = table[0].astype(np.int64)
    parents = parents.copy()
    if len(parents):
        parents[0] = -1
    return parents


def _parents(data: Mapping[str, Any], source: str) -> np.ndarray:
    """(24,) SMPL or (52,) SMPL-H parents from ``parents`` or ``kintree_table`` (2, J); checked against the tree."""
    parents = _read_parents(data, source, "parents", "kintree_table")
    if len(parents) == NUM_SMPLX_JOINTS:
        raise _fail(source, f"it has {NUM_SMPLX_JOINTS} joints, an SMPL-X model, which is not supported: pick an "
                            f"SMPL ({NUM_JOINTS} joints) or SMPL-H ({NUM_SMPLH_JOINTS} joints) file instead",
                    _LAYOUT_HINT)
    if len(parents) not in (NUM_JOINTS, NUM_SMPLH_JOINTS):
        raise _fail(source, f"it has {len(parents)} joints where SMPL has {NUM_JOINTS} and SMPL-H "
                            f"{NUM_SMPLH_JOINTS}", _LAYOUT_HINT)
    if len(parents) == NUM_SMPLH_JOINTS and tuple(parents) != SMPLH_PARENTS:
        raise _fail(source, f"it has {NUM_SMPLH_JOINTS} joints but its kinematic tree is not SMPL-H's")
    if len(parents) == NUM_JOINTS and tuple(parents) != SMPL_PARENTS:
        raise _fail(source, "its kinematic tree is not SMPL's")
    return parents


def _posedirs(data: Mapping[str, Any], num_vertices: int, source: str, basis: int = NUM_POSE_BASIS) -> np.ndarray:
    """(V, 3, P) pose correctives from (V, 3, P) or smplx's (P, V*3); zeros when absent. P = ``basis``
    (207 for SMPL, 459 for SMPL-H)."""
    arr = _array(data, ("posedirs",), source, required=False)
    if arr is None:
        return np.zeros((num_vertices, 3, basis))
    if arr.shape == (basis, num_vertices * 3):
        return arr.T.reshape(num_vertices, 3, basis)
    _expect(arr, (num_vertices, 3, basis), "posedirs", source)
    return arr


_Rig = Tuple[np.ndarray, np.ndarray, np.ndarray, Optional[HandRig]]  # J_regressor, weights, posedirs, hands


def _smpl_rig(data: Mapping[str, Any], num_v: int, source: str) -> _Rig:
    """A 24-joint file's J_regressor (24, V), weights (V, 24), posedirs (V, 3, 207) and optional ``hands_*``."""
    j_regressor = _array(data, ("J_regressor",), source)
    _expect(j_regressor, (NUM_JOINTS, num_v), "J_regressor", source)
    weights = _array(data, ("weights",), source)
    _expect(weights, (num_v, NUM_JOINTS), "weights", source)
    return j_regressor, weights, _posedirs(data, num_v, source), _stored_hands(data, num_v, source)


def _stored_hands(data: Mapping[str, Any], num_v: int, source: str) -> Optional[HandRig]:
    """The ``hands_*`` arrays of a 24-joint file (the built-in body) as a HandRig; None when it has none."""
    if data.get("hands_J_regressor") is None:
        return None
    j_regressor = _array(data, ("hands_J_regressor",), source)
    _expect(j_regressor, (2 * NUM_FINGER_JOINTS, num_v), "hands_J_regressor", source)
    weights = _array(data, ("hands_weights",), source)
    _expect(weights, (num_v, NUM_SMPLH_JOINTS), "hands_weights", source)
    parents = _read_parents(data, source, "hands_parents", "hands_kintree_table")
    if tuple(parents) != SMPLH_PARENTS:
        raise _fail(source, "its 'hands_kintree_table' is not SMPL-H's kinematic tree")
    entry = _array(data, ("hands_entry",), source, np.int64, required=False)
    entry = default_hand_entry() if entry is None else entry
    if not check_hand_entry(entry):
        raise _fail(source, f"its 'hands_entry' must name one joint of each of the {len(FINGER_NAMES)} fingers "
                            "of each hand, shape (2, 5)")
    return HandRig(J_regressor=j_regressor, weights=weights, parents=parents, hand_entry=entry)


def _smplh_rig(data: Mapping[str, Any], num_v: int, source: str, parents: np.ndarray) -> _Rig:
    """An SMPL-H file's 24-joint view and HandRig (see :mod:`.smplh`)."""
    j_regressor = _array(data, ("J_regressor",), source)
    _expect(j_regressor, (NUM_SMPLH_JOINTS, num_v), "J_regressor", source)
    weights = _array(data, ("weights",), source)
    _expect(weights, (num_v, NUM_SMPLH_JOINTS), "weights", source)
    j24, w24, posedirs = smpl_view(j_regressor, weights, _posedirs(data, num_v, source, NUM_SMPLH_POSE_BASIS))
    return j24, w24, posedirs, smplh_hand_rig(j_regressor, weights, parents)


def _name(data: Mapping[str, Any], source: str) -> str:
    value = data.get("name")
    if isinstance(value, np.ndarray) and value.dtype.kind in "US" and value.size == 1:
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else Path(source).stem


def model_from_arrays(data: Mapping[str, Any], source: str = "") -> BodyModel:
    """Check SMPL-format arrays (see the module docstring) and build a :class:`BodyModel`. Raises BodyModelError."""
    v_template = _array(data, ("v_template",), source)
    _expect(v_template, (None, 3), "v_template", source)
    num_v = v_template.shape[0]
    shapedirs = _array(data, ("shapedirs",), source)
    _expect(shapedirs, (num_v, 3, None), "shapedirs", source)
    parents = _parents(data, source)
    j_regressor, weights, posedirs, hands = _smpl_rig(data, num_v, source) if len(parents) == NUM_JOINTS else \
        _smplh_rig(data, num_v, source, parents)
    faces = _array(data, ("f", "faces"), source, np.int64)
    _expect(faces, (None, 3), "f", source)
    if faces.size and (faces.min() < 0 or faces.max() >= num_v):
        raise _fail(source, f"its faces refer to vertices outside 0..{num_v - 1}")
    landmarks = _array(data, ("landmark_regressor",), source, required=False)
    if landmarks is None:
        if num_v != SMPL_NUM_VERTICES:
            raise _fail(source, f"it has no 'landmark_regressor' and {num_v} vertices (not SMPL's "
                                f"{SMPL_NUM_VERTICES}), so its landmarks are unknown")
        landmarks = smpl_landmark_regressor(j_regressor)
    _expect(landmarks, (NUM_LANDMARKS, num_v), "landmark_regressor", source)
    try:
        phenotype = phenotype_map_of(data)
    except ValueError as exc:
        raise _fail(source, str(exc)) from exc
    model = BodyModel(v_template=v_template, shapedirs=shapedirs, posedirs=posedirs, J_regressor=j_regressor,
                      weights=weights, parents=np.array(SMPL_PARENTS, dtype=np.int64), faces=faces,
                      landmark_regressor=landmarks, hands=hands, phenotype=phenotype, name=_name(data, source),
                      source=source)
    for value in list(vars(model).values()) + ([] if phenotype is None else list(vars(phenotype).values())):
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return model


_NPZ_KEYS = frozenset({"v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "parents",
                       "f", "faces", "landmark_regressor", "name", "hands_J_regressor", "hands_weights",
                       "hands_kintree_table", "hands_parents", "hands_entry", *PHENOTYPE_KEYS})


def _read_npz(path: Path) -> Dict[str, Any]:
    """The model's members of an ``.npz`` (others map to None, unread); object-dtype members go through the
    restricted SMPL unpickler."""
    out: Dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                key = member[:-4] if member.endswith(".npy") else member
                if key not in _NPZ_KEYS:
                    out[key] = None
                    continue
                with archive.open(member) as fp:
                    out[key] = _read_npy(fp, member)
    except BodyModelError as exc:   # a member's problem: said of this file
        detail = exc.message.rstrip(".").replace("The file is not a usable SMPL model: ", "", 1)
        raise _fail(str(path), "it " + detail[len("The file "):] if detail.startswith("The file ") else detail) \
            from exc
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        log.debug("reading %s: %s", path, exc, exc_info=True)
        what = "it is empty (0 bytes)" if path.stat().st_size == 0 else \
            "it is not a readable .npz archive (another kind of file, or one cut short or damaged)"
        raise _fail(str(path), what) from exc
    return out


def _read_npy(fp: Any, member: str) -> Any:
    """One ``.npy`` stream: plain arrays with numpy (no pickle), object arrays with the restricted unpickler."""
    try:
        version = np.lib.format.read_magic(fp)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unsupported .npy format version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fp)
    except ValueError as exc:
        log.debug(".npz member %s: %s", member, exc)
        raise BodyModelError(f"its member {member} is not a numpy array, or it is cut short") from exc
    if not dtype.hasobject:
        count = int(np.prod(shape, dtype=np.int64))
        raw = fp.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise BodyModelError(f"its member {member} is cut short")
        arr = np.frombuffer(raw, dtype=dtype, count=count)
        return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    value = loads_restricted(fp.read())
    if isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = to_plain(value.item())
    return value


def _kind(path: Path) -> str:
    """'npz' or 'pkl' from the extension, else from the first bytes; BodyModelError for anything else."""
    suffix = path.suffix.lower()
    if suffix in (".npz", ".pkl"):
        return suffix[1:]
    with path.open("rb") as fp:
        head = fp.read(2)
    if head == b"PK":
        return "npz"
    if head[:1] == b"\x80":
        return "pkl"
    raise _fail(str(path), "it is neither an .npz archive nor an SMPL .pkl file")


def load_body_model(path: Union[str, Path]) -> BodyModel:
    """Load our ``.npz``, an official SMPL or SMPL-H ``.npz`` or ``.pkl``. Raises BodyModelError."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise BodyModelError(f"The body model file {file} does not exist.")
    try:
        kind = _kind(file)
        data = _read_npz(file) if kind == "npz" else load_smpl_pickle(file)
    except OSError as exc:
        raise BodyModelError(f"Cannot read the body model file {file}: {exc.strerror or exc}.") from exc
    model = model_from_arrays(data, str(file))
    log.info("body model %s: %d vertices, %d betas, pose correctives %s, fingers %s (%s)", model.name,
             model.num_vertices, model.num_betas, "yes" if model.has_pose_correctives else "no",
             "yes" if model.hands is not None else "no", file)
    return model


def shaped_vertices(model: BodyModel, betas: np.ndarray) -> np.ndarray:
    """betas (B',) with B' <= model.num_betas -> (V, 3) rest-pose vertices of that body shape."""
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    if b.shape[0] > model.num_betas:
        raise ValueError(f"{b.shape[0]} betas given, the model has {model.num_betas}")
    return model.v_template + model.shapedirs[:, :, :b.shape[0]] @ b


def shaped_joints(model: BodyModel, betas: np.ndarray) -> np.ndarray:
    """betas (B',) -> (24, 3) rest joints of that body shape."""
    return model.J_regressor @ shaped_vertices(model, betas)


def skin(model: BodyModel, poses: np.ndarray, betas: np.ndarray,
         transl: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Reference SMPL linear blend skinning (float64; memory ~ N*V*12 doubles, use small batches).

    poses (N, 24, 3) axis-angle (root first), betas (B',), transl (N, 3) or None ->
    vertices (N, V, 3), joints (N, 24, 3). Pose correctives are applied as SMPL does.
    """
    rot = rotvec_to_rotmat(np.asarray(poses, dtype=np.float64))
    n = rot.shape[0]
    v_shaped = shaped_vertices(model, betas)
    rest_joints = model.J_regressor @ v_shaped
    feature = (rot[:, 1:] - np.eye(3)).reshape(n, -1)                        # (N, 207)
    v_posed = v_shaped[None] + np.einsum("vcp,np->nvc", model.posedirs, feature)
    joints, glob = forward_kinematics_rotmat(rot, rest_joints, model.parents)
    offset = joints - np.einsum("njab,jb->nja", glob, rest_joints)            # (N, 24, 3)
    rot_v = np.einsum("vj,njab->nvab", model.weights, glob)                   # (N, V, 3, 3)
    verts = np.einsum("nvab,nvb->nva", rot_v, v_posed) + np.einsum("vj,nja->nva", model.weights, offset)
    if transl is not None:
        t = np.asarray(transl, dtype=np.float64)[:, None, :]
        verts, joints = verts + t, joints + t
    return verts, joints


def landmarks_from_vertices(model: BodyModel, vertices: np.ndarray, joints: Optional[np.ndarray] = None) -> np.ndarray:
    """vertices (..., V, 3) -> (..., 33, 3) BlazePose landmarks; with the posed ``joints`` (..., 24, 3) the
    landmarks at joint centres are those joints (:data:`.layout.JOINT_LANDMARKS`), as the skinning paths do."""
    out = np.einsum("lv,...vc->...lc", model.landmark_regressor, vertices)
    if joints is not None:
        lm, jt = (list(v) for v in zip(*JOINT_LANDMARKS))
        out[..., lm, :] = np.asarray(joints)[..., jt, :]
    return out
