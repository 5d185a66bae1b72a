"""Where the trained models' checkpoints come from, and loading them safely.

Resolution order for a checkpoint file ``name`` (e.g. ``prior.pt``):
1. an explicit local path the user chose (if given it must exist: we never silently use another file);
2. the committed default ``server/assets/weights/<name>`` (shipped inside the extension);
3. the Hugging Face Hub cache for the pinned repository and revision (no network);
4. ``hf_hub_download`` of the pinned revision, only when huggingface_hub is installed and ``HF_HUB_OFFLINE`` is not
   set.
Nothing found -> :class:`~server.errors.WeightsError` (``missing_weights``) naming every place looked at and why it
failed. Loading is ``torch.load(weights_only=True)`` (no code runs from a checkpoint) and strict state dicts; a
file that is not a readable checkpoint, not ours, or of the wrong shape -> ``bad_weights``.
huggingface_hub is optional and imported only when steps 3-4 are reached.
"""
from __future__ import annotations

import dataclasses

import importlib
import logging
import os
import pickle
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union, cast

import torch
from torch import nn

from .errors import WeightsError

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent / "assets" / "weights"
HF_REPO_ID = "blender-scorehmr/weights"
HF_REVISION = "v0.1.0"  # pin to the upload's commit hash once the repository exists
_TRUE = {"1", "true", "yes", "on"}
BAD_WEIGHTS_HINT = ("Pick the model file again (a ScoreHMR .pt checkpoint), or leave the field empty to use the "
                    "model shipped with the add-on; if that one is damaged, reinstall the add-on.")

PathLike = Union[str, "os.PathLike[str]"]


def hub_offline() -> bool:
    """Whether the user asked Hugging Face libraries to stay offline (``HF_HUB_OFFLINE``), read at call time."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def _import_hub() -> Optional[ModuleType]:
    try:
        return importlib.import_module("huggingface_hub")
    except ImportError:
        return None


def _from_hub(hub: ModuleType, name: str, repo_id: str, revision: str, looked: List[str]) -> Optional[Path]:
    """Steps 3 and 4: the local Hub cache, then (online only) a pinned download; appends failures to ``looked``."""
    where = f"{repo_id}@{revision}/{name}"
    cached = hub.try_to_load_from_cache(repo_id, name, revision=revision)
    if isinstance(cached, (str, os.PathLike)) and Path(cached).is_file():
        return Path(cached)
    looked.append(f"the Hugging Face cache for {where} (not cached)")
    if hub_offline():
        looked.append(f"a download of {where} (skipped: HF_HUB_OFFLINE is set)")
        return None
    try:
        return Path(hub.hf_hub_download(repo_id, name, revision=revision))
    except Exception as exc:  # noqa: BLE001 - any failure (network, 404, disk) is reported, never swallowed
        looked.append(f"a download of {where} (failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
        return None


def resolve_weights(name: str, explicit: Optional[PathLike] = None, default_dir: Optional[PathLike] = None,
                    repo_id: str = HF_REPO_ID, revision: str = HF_REVISION, use_hub: bool = True) -> Path:
    """The checkpoint file to load for ``name`` (see the module docstring). Raises WeightsError."""
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
        if path.is_file():
            return path
        raise WeightsError(f"The checkpoint file {path} does not exist.",
                           "Check the path, or leave it empty to use the model shipped with the add-on.")
    looked: List[str] = []
    default = Path(default_dir if default_dir is not None else DEFAULT_WEIGHTS_DIR) / name
    if default.is_file():
        return default
    looked.append(f"the add-on's own copy {default} (no such file)")
    hub = _import_hub() if use_hub else None
    if not use_hub:
        looked.append("the Hugging Face Hub (not asked)")
    elif hub is None:
        looked.append(f"the Hugging Face Hub {repo_id}@{revision} (huggingface_hub is not installed)")
    else:
        found = _from_hub(hub, name, repo_id, revision, looked)
        if found is not None:
            return found
    places = "".join(f"\n  - {place}" for place in looked)
    raise WeightsError(f"The trained model '{name}' was not found. Looked in:{places}")


def load_checkpoint(name: str, explicit: Optional[PathLike] = None, expected_format: Optional[str] = None,
                    **resolve: Any) -> Tuple[Dict[str, Any], Path]:
    """Resolve ``name`` and read it with ``torch.load(weights_only=True)`` -> (checkpoint dict, its path).

    Our checkpoints are dicts with ``format`` (a string naming the model), ``config`` and ``state_dict``; with
    ``expected_format`` the format must match. Raises WeightsError (``missing_weights`` / ``bad_weights``)."""
    path = resolve_weights(name, explicit, **resolve)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds; every one becomes bad_weights, logged
        log.debug("torch.load(%s) failed", path, exc_info=True)
        raise WeightsError(f"The model file {path} {_load_problem(path, exc)}", BAD_WEIGHTS_HINT,
                           code="bad_weights") from exc
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise WeightsError(f"The model file {path} is a PyTorch file but not a ScoreHMR checkpoint (it has no "
                           "trained weights in the expected layout).", BAD_WEIGHTS_HINT, code="bad_weights")
    if expected_format is not None and ckpt.get("format") != expected_format:
        raise WeightsError(f"The model file {path} holds a '{ckpt.get('format')}' model where a "
                           f"'{expected_format}' model belongs.", BAD_WEIGHTS_HINT, code="bad_weights")
    log.info("loaded %s from %s", name, path)
    return dict(ckpt), path


M = TypeVar("M", bound=nn.Module)


def plain(value: Any) -> Any:
    """Dicts / lists / scalars -> the exact builtin types (``weights_only`` loading refuses subclasses such as
    ``torch.__version__``'s TorchVersion or numpy scalars); anything else -> its ``str``."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float):
        if isinstance(value, kind) or (hasattr(value, "item") and isinstance(getattr(value, "item")(), kind)):
            return kind(value)
    return str(value)


def checkpoint_of(model: nn.Module, kind: str, version: int, figures: Optional[Mapping[str, Any]] = None,
                  training: Optional[Mapping[str, Any]] = None, half: bool = False,
                  full_precision: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """The one checkpoint writer: a dict ``torch.load(weights_only=True)`` reads, tensors and plain types only:
    ``format`` (``kind``), ``format_version``, the model's ``config.to_dict()``, ``training`` and ``figures``
    (:func:`plain`) and its ``state_dict``; with ``half`` the float weights as float16 (half the file; loading
    casts them back, a relative change below 1e-3) except those named in ``full_precision``."""
    state = {k: (v.half() if half and v.is_floating_point() and k not in full_precision else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    config = cast(Any, model.config)   # each network's config dataclass (with to_dict)
    return {"format": kind, "format_version": version, "config": config.to_dict(),
            "training": plain(training or {}), "figures": plain(figures or {}), "state_dict": state}


def load_model(name: str, explicit: Optional[PathLike], expected_format: str, what: str,
               build: Callable[[Mapping[str, Any]], M], **resolve: Any) -> M:
    """The one checkpoint loader: resolve and read ``name`` (:func:`load_checkpoint`), ``build(config dict)`` the
    model (a KeyError, TypeError or ValueError there becomes a WeightsError naming ``what``, e.g. "regressor"),
    load its weights strictly (:func:`load_state_dict_strict`) -> the model in eval mode. Raises WeightsError."""
    ckpt, source = load_checkpoint(name, explicit, expected_format=expected_format, **resolve)
    try:
        model = build(ckpt["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"The {what} checkpoint {source} has an unusable config ({exc}).",
                           code="bad_weights") from exc
    load_state_dict_strict(model, ckpt["state_dict"], source)
    return model.eval()


def _load_problem(path: Path, exc: BaseException) -> str:
    """What is wrong with a checkpoint ``torch.load`` refused, in a user's words (never torch's advice)."""
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    if size == 0:
        return "is empty (0 bytes)."
    if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
        return f"cannot be read ({exc.strerror or type(exc).__name__})."
    if isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower() and zipfile.is_zipfile(path):
        return ("holds Python objects beyond trained weights, so it is not a ScoreHMR checkpoint; it was not "
                "loaded (no code ever runs from a model file).")
    return "is damaged or not a ScoreHMR checkpoint (it is not a readable PyTorch model file)."


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, Any], source: PathLike) -> None:
    """``model.load_state_dict(state_dict, strict=True)``; a mismatch, or weights with NaN or infinite values,
    becomes a WeightsError (``bad_weights``) naming the file."""
    broken = [key for key, value in state_dict.items() if isinstance(value, torch.Tensor)
              and value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:
        raise WeightsError(f"The model file {source} is damaged: its weights {', '.join(broken[:3])} hold NaN or "
                           "infinite values.", BAD_WEIGHTS_HINT, code="bad_weights")
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        log.info("checkpoint %s does not match the model: %s", source, " ".join(str(exc).split())[:2000])
        raise WeightsError(f"The model file {source} does not match this version's model (its layers or their "
                           "sizes differ: it was made for another version).",
                           "Update the add-on and its models together.", code="bad_weights") from exc


def config_from_dict(cls: type, data: Mapping[str, Any], what: str) -> Any:
    """A model config dataclass from a checkpoint's plain dict; unknown keys raise ValueError (a checkpoint from a
    different code version should fail loudly, not load half)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} config keys {unknown}")
    return cls(**dict(data))
