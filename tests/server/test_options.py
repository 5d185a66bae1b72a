"""server.options: the one declaration of each job kind's options, and everything built from it.

The command line, the batch manifest and the protocol expose every declared option with its declared default and
range (the panel's properties are checked in tests/blender_scorehmr/test_blender_options.py): declaring an option is
all it takes to reach the user everywhere.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from server import cli, protocol
from server.jobs.batch.inputs import expand_inputs
from server.errors import JobError
from server.options import (OPTIONS_OF_KIND, CaptureOptions, CleanupOptions, Option, OptionError, Options,
                            PeopleOptions, options_of)

# Each command and the options class its arguments build.
COMMANDS = [("capture", CaptureOptions), ("batch", CaptureOptions), ("cleanup", CleanupOptions),
            ("people", PeopleOptions)]
EVERY_OPTION = [(cls, spec) for cls in (CaptureOptions, CleanupOptions, PeopleOptions) for spec in options_of(cls)]


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = cli._parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise AssertionError("no sub-commands")


def _values_beyond(spec: Option) -> List[Any]:
    """Values the option must refuse: just out of its range, of the wrong kind, not a choice."""
    if spec.kind is bool:
        return [1, "yes", None]
    if spec.choices:
        return ["none of them", 3]
    beyond: List[Any] = [spec.low - (1 if spec.kind is int else 0.01)] if spec.low is not None else []
    beyond += [spec.high + (1 if spec.kind is int else 0.01)] if spec.high is not None else []
    return beyond + ["2", float("nan") if spec.kind is float else 2.5]


def _values_within(spec: Option) -> List[Any]:
    """Values the option must take: its ends, every choice, both states."""
    if spec.kind is bool:
        return [True, False]
    if spec.choices:
        return [value for value, _, _ in spec.choices]
    return [value for value in (spec.low, spec.high, spec.default) if value is not None]


@pytest.mark.parametrize("options_class, spec", EVERY_OPTION, ids=lambda x: getattr(x, "name", getattr(x, "KIND", "")))
def test_construction_validates_every_option(options_class: type, spec: Option) -> None:
    for value in _values_within(spec):
        assert getattr(options_class(**{spec.name: value}), spec.name) == value
    for value in _values_beyond(spec):
        with pytest.raises(OptionError) as raised:
            options_class(**{spec.name: value})
        assert raised.value.code == "bad_request" and spec.flag in raised.value.message


@pytest.mark.parametrize("value, words", [(float("inf"), "--strength is inf"), (float("nan"), "--strength is nan"),
                                          (-5.0, "--strength is -5; it must be a finite number from 0 to 2")])
def test_messages_name_the_flag_and_the_range(value: float, words: str) -> None:
    with pytest.raises(OptionError, match=words):
        CleanupOptions(strength=value)
    with pytest.raises(OptionError, match=r"--iterations is 10000000000000000000\.\.\.; it must be a whole number"):
        CaptureOptions(iterations=10 ** 400)


@pytest.mark.parametrize("command, options_class", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_the_command_line_exposes_every_option(command: str, options_class: type) -> None:
    """Each option has its flag (a switch: --name and --no-name), the declared default and the declared range."""
    parser = _subparser(command)
    base = ["x.mp4", "-o", "out.npz"] if command != "people" else ["x.mp4"]
    assert options_class.from_args(parser.parse_args(base)) == options_class()
    for spec in options_of(options_class):
        for value in _values_within(spec):
            if spec.kind is bool:
                words = [spec.flag if value else "--no-" + spec.flag[2:]]
            else:
                words = [spec.flag, str(value)]
            assert getattr(options_class.from_args(parser.parse_args(base + words)), spec.name) == value
        if spec.kind in (int, float) and spec.high is not None:
            args = parser.parse_args(base + [spec.flag, str(spec.high + 1)])
            with pytest.raises(OptionError, match=spec.flag):
                options_class.from_args(args)


def test_an_option_out_of_range_exits_2_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "out.npz"
    assert cli.main(["capture", str(tmp_path / "missing.mp4"), "-o", str(out), "--iterations", "21"]) == 2
    assert cli.main(["cleanup", str(tmp_path / "missing.npz"), "-o", str(out), "--strength", "nan"]) == 2
    assert not out.exists()


def _manifest(tmp_path: Path, rows: List[dict]) -> str:
    path = tmp_path / "takes.json"
    path.write_text(json.dumps(rows))
    return str(path)


@pytest.mark.parametrize("spec", options_of(CaptureOptions), ids=lambda spec: spec.name)
def test_the_manifest_takes_every_capture_option(tmp_path: Path, spec: Option) -> None:
    """A manifest row may set any capture option for its clip (JSON values, or CSV text), in the declared range."""
    for value in _values_within(spec):
        (item,) = expand_inputs([_manifest(tmp_path, [{"clip": "a.mp4", spec.name: value}])])
        assert item.options == {spec.name: value}
        assert getattr(CaptureOptions.from_mapping(item.options), spec.name) == value
        csv = tmp_path / "takes.csv"
        csv.write_text(f"clip,{spec.name}\na.mp4,{str(value).lower() if spec.kind is bool else value}\n")
        (item,) = expand_inputs([str(csv)])
        assert item.options == {spec.name: value}
    text_beyond = ["maybe"] if spec.kind is bool else ["none of them"] if spec.choices else ["2x"]
    for value in [v for v in _values_beyond(spec) if v is not None and not isinstance(v, str)] + text_beyond:
        with pytest.raises(JobError) as raised:
            expand_inputs([_manifest(tmp_path, [{"clip": "a.mp4", spec.name: value}])])
        assert raised.value.code == "bad_request" and "row 1" in raised.value.message
    (item,) = expand_inputs([_manifest(tmp_path, [{"clip": "a.mp4"}])])
    assert item.options == {}     # the command line's options (the declared defaults unless given)


@pytest.mark.parametrize("kind, options_class", sorted(OPTIONS_OF_KIND.items()))
def test_the_protocol_carries_every_option(kind: str, options_class: type) -> None:
    """Submit carries the kind's options; each value the declaration allows survives the wire, one it refuses
    is a bad request."""
    for spec in options_of(options_class):
        for value in _values_within(spec):
            options = options_class(**{spec.name: value})
            message = protocol.Submit(job_id="j", kind=kind, video="/v", job_dir="/j", options=options)
            assert protocol.from_wire(message.to_wire()).options == options
        for value in _values_beyond(spec):
            line = json.dumps({"type": "submit", "job_id": "j", "kind": kind, "video": "/v", "job_dir": "/j",
                               "options": {spec.name: value}})
            with pytest.raises(protocol.ProtocolError):
                protocol.from_wire(line)


def test_options_from_a_mapping_and_back() -> None:
    options = CaptureOptions(iterations=4, lock_feet=False)
    assert CaptureOptions.from_mapping(options.to_dict()) == options
    with pytest.raises(OptionError, match="unknown option"):
        CaptureOptions.from_mapping({"strength": 1.0})


def test_text_of_each_kind_parses() -> None:
    cases: List[Tuple[Options, str, str, Any]] = [
        (CaptureOptions(), "refine", " Off ", False), (CaptureOptions(), "iterations", "7", 7),
        (CaptureOptions(), "temporal", "0.25", 0.25), (CleanupOptions(), "method", "guided", "guided")]
    for options, name, text, value in cases:
        spec = next(s for s in options_of(type(options)) if s.name == name)
        assert spec.parse(text) == value
    with pytest.raises(OptionError, match="--refine is 'maybe'"):
        next(s for s in options_of(CaptureOptions) if s.name == "refine").parse("maybe")


def test_a_height_is_zero_or_a_person_s() -> None:
    assert CaptureOptions(height=1.0).shape.height == 1.0 and CaptureOptions().shape.empty
    with pytest.raises(OptionError, match="--height is 0.5; it must be 0 .estimated. or from 1 to 2.5"):
        CaptureOptions(height=0.5)
    shape = CaptureOptions(gender=0.0, weight=-1.0, muscle=0.7).shape
    assert shape.phenotypes == {"gender": 0.0, "muscle": 0.7} and not shape.empty
