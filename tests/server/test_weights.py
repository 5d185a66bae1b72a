"""Checkpoint resolution order and safe loading, offline (the network is never touched)."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

from server.errors import EXIT_CODES, WeightsError
from server.protocol import ERROR_CODES
from server.weights import load_checkpoint, load_state_dict_strict, resolve_weights

NAME = "model.pt"


def _ckpt(path: Path, fmt: str = "test.model") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": fmt, "config": {}, "state_dict": torch.nn.Linear(2, 3).state_dict()}, path)
    return path


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A stand-in huggingface_hub recording its calls (cache hits from ``cached``, downloads from ``remote``)."""
    hub = types.ModuleType("huggingface_hub")
    hub.calls = []
    hub.cached, hub.remote = {}, {}

    def try_to_load_from_cache(repo_id: str, filename: str, revision: str = None):
        hub.calls.append(("cache", repo_id, filename, revision))
        return hub.cached.get(filename)

    def hf_hub_download(repo_id: str, filename: str, revision: str = None):
        hub.calls.append(("download", repo_id, filename, revision))
        if filename not in hub.remote:
            raise OSError("404 Client Error: Entry Not Found")
        return str(hub.remote[filename])

    hub.try_to_load_from_cache, hub.hf_hub_download = try_to_load_from_cache, hf_hub_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return hub


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)   # import -> ImportError


def test_explicit_path_wins_and_must_exist(tmp_path: Path, no_hub) -> None:
    default_dir = tmp_path / "assets"
    _ckpt(default_dir / NAME)
    mine = _ckpt(tmp_path / "mine.pt")
    assert resolve_weights(NAME, mine, default_dir=default_dir) == mine
    with pytest.raises(WeightsError) as err:
        resolve_weights(NAME, tmp_path / "typo.pt", default_dir=default_dir)
    assert "typo.pt" in err.value.message and err.value.code == "missing_weights"


def test_committed_default_before_the_hub(tmp_path: Path, fake_hub) -> None:
    default = _ckpt(tmp_path / "assets" / NAME)
    fake_hub.cached[NAME] = str(_ckpt(tmp_path / "hfcache" / NAME))
    assert resolve_weights(NAME, default_dir=tmp_path / "assets") == default
    assert fake_hub.calls == []


def test_hub_cache_then_pinned_download(tmp_path: Path, fake_hub) -> None:
    cached = _ckpt(tmp_path / "hfcache" / NAME)
    fake_hub.cached[NAME] = str(cached)
    assert resolve_weights(NAME, default_dir=tmp_path / "empty", repo_id="o/r", revision="abc") == cached
    assert fake_hub.calls == [("cache", "o/r", NAME, "abc")]
    fake_hub.cached.clear()
    fake_hub.remote[NAME] = cached
    assert resolve_weights(NAME, default_dir=tmp_path / "empty", repo_id="o/r", revision="abc") == cached
    assert fake_hub.calls[-1] == ("download", "o/r", NAME, "abc")


def test_hf_hub_offline_is_respected(tmp_path: Path, fake_hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_hub.remote[NAME] = _ckpt(tmp_path / "remote" / NAME)
    with pytest.raises(WeightsError) as err:
        resolve_weights(NAME, default_dir=tmp_path / "empty")
    assert [c[0] for c in fake_hub.calls] == ["cache"]
    assert "HF_HUB_OFFLINE" in err.value.message


def test_missing_everywhere_names_every_place(tmp_path: Path, fake_hub) -> None:
    with pytest.raises(WeightsError) as err:
        resolve_weights(NAME, default_dir=tmp_path / "empty", repo_id="o/r", revision="abc")
    message = err.value.message
    assert str(tmp_path / "empty" / NAME) in message and "cache" in message and "404" in message
    assert "o/r@abc" in message and err.value.exit_code == EXIT_CODES["missing_weights"] == 8


def test_without_huggingface_hub(tmp_path: Path, no_hub) -> None:
    with pytest.raises(WeightsError) as err:
        resolve_weights(NAME, default_dir=tmp_path / "empty")
    assert "huggingface_hub is not installed" in err.value.message


TORCH_WORDS = ("weights_only", "Re-running", "torch.load", "PytorchStreamReader", "miniz", "UnpicklingError")


def _bad_weights(path: Path) -> WeightsError:
    """The error for the checkpoint at ``path``: bad_weights, naming the file, in the user's words with a hint."""
    with pytest.raises(WeightsError) as err:
        load_checkpoint(NAME, path)
    error = err.value
    assert error.code == "bad_weights" and str(path) in error.message and error.hint
    words_shown = (error.message + error.hint).replace(str(path), "")
    assert not any(words in words_shown for words in TORCH_WORDS), error.message
    return error


@pytest.mark.parametrize("content, words", [
    (b"", "empty"), (b"not a checkpoint at all", "damaged or not a ScoreHMR checkpoint"),
    (b"PK\x03\x04broken zip", "damaged or not a ScoreHMR checkpoint"),
    (bytes(range(256)) * 4, "damaged or not a ScoreHMR checkpoint"),
    ("truncated", "damaged or not a ScoreHMR checkpoint"),
])
def test_corrupt_file_is_a_clear_error(tmp_path: Path, no_hub, content, words: str) -> None:
    bad = tmp_path / NAME
    if content == "truncated":
        whole = _ckpt(tmp_path / "whole.pt").read_bytes()
        content = whole[: len(whole) // 2]
    bad.write_bytes(content)
    assert words in _bad_weights(bad).message


def test_weights_only_refuses_pickled_objects(tmp_path: Path, no_hub) -> None:
    path = tmp_path / NAME
    torch.save({"format": "test.model", "state_dict": {}, "payload": types.SimpleNamespace(a=1)}, path)
    assert "Python objects" in _bad_weights(path).message


def test_other_pytorch_files_and_nan_weights(tmp_path: Path, no_hub) -> None:
    path = tmp_path / NAME
    torch.save(torch.zeros(3), path)
    assert "not a ScoreHMR checkpoint" in _bad_weights(path).message
    layer = torch.nn.Linear(2, 3)
    state = {key: value.clone() for key, value in layer.state_dict().items()}
    state["weight"][0, 0] = float("nan")
    with pytest.raises(WeightsError) as err:
        load_state_dict_strict(layer, state, path)
    assert err.value.code == "bad_weights" and "'weight'" not in err.value.message and "weight" in err.value.message


def test_wrong_format_and_wrong_shapes(tmp_path: Path, no_hub) -> None:
    path = _ckpt(tmp_path / NAME, fmt="someone.else")
    with pytest.raises(WeightsError) as err:
        load_checkpoint(NAME, path, expected_format="test.model")
    assert "someone.else" in err.value.message
    ckpt, source = load_checkpoint(NAME, path, expected_format="someone.else")
    with pytest.raises(WeightsError) as err:
        load_state_dict_strict(torch.nn.Linear(2, 4), ckpt["state_dict"], source)
    assert err.value.code == "bad_weights" and str(path) in err.value.message
    load_state_dict_strict(torch.nn.Linear(2, 3), ckpt["state_dict"], source)


def test_error_codes_are_in_the_protocol() -> None:
    for code in ("missing_weights", "bad_weights"):
        assert code in ERROR_CODES and code in EXIT_CODES


class _Tiny(torch.nn.Module):
    """A model with a config, as every checkpointed model has."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.config = types.SimpleNamespace(to_dict=lambda: {"width": width})
        self.layer = torch.nn.Linear(2, width)
        self.register_buffer("stats", torch.linspace(0.1, 0.7, width))


def test_one_writer_and_one_loader_round_trip(tmp_path: Path, no_hub) -> None:
    from server.weights import checkpoint_of, load_model
    model = _Tiny(3)
    path = tmp_path / NAME
    torch.save(checkpoint_of(model, "test.tiny", 2, {"loss": torch.tensor(0.5)}, {"steps": 3}, half=True,
                             full_precision=("stats",)), path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "test.tiny" and raw["format_version"] == 2 and raw["config"] == {"width": 3}
    assert raw["figures"] == {"loss": 0.5} and type(raw["figures"]["loss"]) is float
    state = raw["state_dict"]
    assert state["layer.weight"].dtype == torch.float16 and state["stats"].dtype == torch.float32
    loaded = load_model(NAME, path, "test.tiny", "tiny model", lambda config: _Tiny(config["width"]))
    assert not loaded.training and torch.equal(loaded.stats, model.stats)
    assert torch.allclose(loaded.layer.weight, model.layer.weight, atol=1e-3)
    with pytest.raises(WeightsError, match="tiny model checkpoint .* unusable config"):
        load_model(NAME, path, "test.tiny", "tiny model", lambda config: _Tiny(config["depth"]))
    with pytest.raises(WeightsError, match="does not match this version"):
        load_model(NAME, path, "test.tiny", "tiny model", lambda config: _Tiny(4))
    with pytest.raises(WeightsError, match="'test.tiny' model where a 'test.other'"):
        load_model(NAME, path, "test.other", "tiny model", lambda config: _Tiny(3))
