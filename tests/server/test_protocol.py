"""Protocol round trips and rejections (standard library only)."""
from __future__ import annotations

import json

import pytest

from server import protocol
from server.options import CaptureOptions, CleanupOptions, PeopleOptions
from server.protocol import ProtocolError, from_wire

EXAMPLES = [
    protocol.Ready(worker_version="0.1.0", pid=42),
    protocol.Submit(job_id="j1", kind="capture", video="/v.mp4", job_dir="/jobs/j1", start=3, end=90,
                    views=["/cam2.mp4", "/cam3.mp4"],
                    options=CaptureOptions(refine=False, iterations=5, temporal=0.5, initial="analytic", hypotheses=3,
                                           align=True)),
    protocol.Submit(job_id="j2", kind="cleanup", video="", job_dir="/jobs/j2", motion="/jobs/j2/motion.npz",
                    options=CleanupOptions(strength=0.5, keep_root=True, lock_feet=True, method="guided")),
    protocol.Progress(job_id="j1", stage="detect", done=5, total=87, message="frame 7"),
    protocol.Result(job_id="j1", path="/jobs/j1/result.npz", frames=80, seconds=4.5, timings={"detect": 3.25}),
    protocol.Failed(job_id="j1", code="no_person", message="No person.", hint="Check the range."),
    protocol.Cancel(job_id="j1"),
    protocol.Shutdown(),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.TYPE)
def test_round_trip(message: protocol.Message) -> None:
    line = message.to_wire()
    assert "\n" not in line
    assert json.loads(line)["type"] == message.TYPE
    assert from_wire(line) == message
    assert from_wire(line.encode()) == message


def test_version_and_kinds() -> None:
    assert protocol.PROTOCOL_VERSION == 8
    assert set(protocol.KIND_STAGES) == {"capture", "cleanup", "import_motion", "people"}
    assert {s for stages in protocol.KIND_STAGES.values() for s in stages} == set(protocol.STAGES)
    bare = from_wire('{"type":"submit","job_id":"a","kind":"capture","video":"/v","job_dir":"/j"}')
    assert bare.motion == "" and bare.options == CaptureOptions()
    assert bare.person == -1 and bare.person_boxes == []
    assert from_wire('{"type":"result","job_id":"a","path":"/p"}').notes == []
    assert protocol.KIND_STAGES["capture"].index("place") == protocol.KIND_STAGES["capture"].index("refine") + 1
    with pytest.raises(ProtocolError, match="protocol 2"):
        from_wire('{"type":"ready","protocol":2}')


def test_person_choice_round_trip() -> None:
    message = protocol.Submit(job_id="j3", kind="capture", video="/v.mp4", job_dir="/jobs/j3", person=2,
                              person_boxes=[[0, 10.5, 20, 110, 320], [8, 12, 21, 112, 322.25]])
    assert from_wire(message.to_wire()) == message
    with pytest.raises(ProtocolError, match="person_boxes"):
        from_wire('{"type":"submit","job_id":"a","kind":"people","video":"/v","job_dir":"/j","person_boxes":[["x"]]}')


def test_options_are_a_union_tagged_by_the_kind() -> None:
    """Each kind carries its own options class; missing options take their defaults, a partial object the rest."""
    line = '{"type":"submit","job_id":"a","kind":"%s","video":"/v","job_dir":"/j","options":%s}'
    assert from_wire(line % ("cleanup", "{}")).options == CleanupOptions()
    assert from_wire(line % ("people", '{"max_people":6}')).options == PeopleOptions(max_people=6)
    assert from_wire(line % ("capture", '{"temporal":2}')).options == CaptureOptions(temporal=2.0)
    assert from_wire(line % ("import_motion", "{}")).options is None
    with pytest.raises(ProtocolError, match="takes no options"):
        from_wire(line % ("import_motion", '{"strength":1}'))
    with pytest.raises(ProtocolError, match="unknown field"):
        from_wire(line % ("cleanup", '{"iterations":3}'))       # a capture option on a clean-up
    with pytest.raises(ProtocolError, match="takes CleanupOptions"):
        protocol.Submit(job_id="a", kind="cleanup", video="", job_dir="/j", options=CaptureOptions())


def test_every_type_has_an_example() -> None:
    assert {m.TYPE for m in EXAMPLES} == set(protocol.MESSAGE_TYPES)


def test_int_accepted_for_float_field() -> None:
    message = from_wire('{"type":"result","job_id":"a","path":"/p","seconds":3}')
    assert message == protocol.Result(job_id="a", path="/p", seconds=3.0)


@pytest.mark.parametrize("line, why", [
    ("not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ('{"job_id": "a"}', "unknown message type"),
    ('{"type": "explode"}', "unknown message type"),
    ('{"type": "cancel"}', "missing field 'job_id'"),
    ('{"type": "cancel", "job_id": 7}', "'job_id' must be str"),
    ('{"type": "cancel", "job_id": "a", "extra": 1}', "unknown field"),
    ('{"type": "progress", "job_id": "a", "stage": "x", "done": true, "total": 2}', "'done' must be int"),
    ('{"type": "progress", "job_id": "a", "stage": "x", "done": 1.5, "total": 2}', "'done' must be int"),
    ('{"type": "result", "job_id": "a", "path": "/p", "timings": {"x": "slow"}}', "timings.x"),
    ('{"type": "ready", "protocol": 999}', "protocol 999"),
    ('{"type": "submit", "job_id": "a", "kind": "capture", "video": "/v", "job_dir": "/j", "views": "/x"}',
     "'views' must be an array"),
    ('{"type": "submit", "job_id": "a", "kind": "capture", "video": "/v", "job_dir": "/j", "views": [3]}',
     r"views\[0\]"),
    ('{"type": "submit", "job_id": "a", "kind": "capture", "video": "/v", "job_dir": "/j", "options": {"refine": 1}}',
     "'refine' must be bool"),
    ('{"type": "submit", "job_id": "a", "kind": "cleanup", "video": "", "job_dir": "/j", "options": {"strength": "x"}}',
     "'strength' must be float"),
    ('{"type": "submit", "job_id": "a", "kind": "capture", "video": "/v", "job_dir": "/j", "options": {"hypotheses": 9}}',
     "--hypotheses is 9; it must be a whole number from 0 to 8"),
    ('{"type": "submit", "job_id": "a", "kind": "capture", "video": "/v", "job_dir": "/j", "options": []}',
     "'options' must be an object"),
    ('{"type": "submit", "job_id": "a", "kind": "capture", "video": "/v", "job_dir": "/j", "refine": false}',
     "unknown field"),
])
def test_rejections(line: str, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        from_wire(line)


@pytest.mark.parametrize("line, why", [
    ("[" * 200000 + "]" * 200000, "nested too deeply"),
    ('{"type": "cancel", "job_id": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ('{"type": "progress", "job_id": "a", "stage": "x", "done": ' + "7" * 5000 + ', "total": 2}', "cannot be read"),
    ('{"type": "result", "job_id": "a", "path": "/p", "seconds": NaN}', "not finite"),
    ('{"type": "result", "job_id": "a", "path": "/p", "seconds": -Infinity}', "not finite"),
    ('{"type": "result", "job_id": "a", "path": "/p", "seconds": 1e999}', "not finite"),
    ("\ufeff{}", "not JSON"),
    ("", "not JSON"),
    (b"{\"type\": \"cancel\", \"job_id\": \"\xc3\"}", "UTF-8"),
    (" " * (protocol.MAX_LINE_BYTES + 1), "longer than"),
])
def test_unparsable_lines_are_protocol_errors(line, why: str) -> None:
    with pytest.raises(ProtocolError, match=why) as err:
        from_wire(line)
    assert err.value.job_id == ""


def test_rejection_names_the_job_it_refuses() -> None:
    with pytest.raises(ProtocolError, match="'video' must be str") as err:
        from_wire('{"type": "submit", "job_id": "j7", "kind": "capture", "video": 5, "job_dir": "/j"}')
    assert err.value.job_id == "j7"
    with pytest.raises(ProtocolError) as err:
        from_wire('{"type": "cancel", "job_id": ["j7"]}')
    assert err.value.job_id == ""


def test_non_utf8_rejected() -> None:
    with pytest.raises(ProtocolError, match="UTF-8"):
        from_wire(b"\xff\xfe{}")


def test_nan_never_goes_on_the_wire() -> None:
    with pytest.raises(ValueError):
        protocol.Result(job_id="a", path="/p", seconds=float("nan")).to_wire()


@pytest.mark.parametrize("module", ["protocol", "options"])
def test_contract_modules_are_stdlib_only(module: str) -> None:
    """The contracts the add-on bundles import the standard library and each other only (relative imports)."""
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse((Path(protocol.__file__).parent / f"{module}.py").read_text())
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    names |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    assert names <= set(sys.stdlib_module_names) | {"__future__"}
    assert relative <= {"options"}
