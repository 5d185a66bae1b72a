"""The panel exposes every declared option (server/options.py) with its declared default and range, and the
panel's values reach the job's options object unchanged; tests/server/test_options.py checks the command line, the
manifest and the protocol the same way."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow]   # bpy


def _every_option(bl):
    options = bl.sub("server.options")
    return [(cls, spec) for cls in (options.CaptureOptions, options.CleanupOptions, options.PeopleOptions)
            for spec in options.options_of(cls)]


def test_the_panel_has_a_property_per_option_with_its_default_and_range(blender) -> None:
    settings = blender.bpy.context.scene.scorehmr
    properties = settings.bl_rna.properties
    for _cls, spec in _every_option(blender):
        prop = properties[spec.panel_name]
        assert prop.name == spec.label and prop.description == spec.help, spec.name
        if spec.choices:
            assert prop.type == "ENUM" and prop.default == spec.default
            assert [item.identifier for item in prop.enum_items] == [value for value, _, _ in spec.choices]
            continue
        assert prop.type == {bool: "BOOLEAN", int: "INT", float: "FLOAT"}[spec.kind], spec.name
        assert prop.default == pytest.approx(spec.default), spec.name
        if spec.kind is not bool:
            assert prop.hard_min == pytest.approx(spec.low), spec.name
            assert prop.hard_max == pytest.approx(spec.high if spec.high is not None else prop.hard_max), spec.name


def test_panel_values_reach_the_options(blender) -> None:
    """Every property set to the end of its range (or each choice, or off/on) gives that option's value."""
    bridge = blender.sub("bridge")
    settings = blender.bpy.context.scene.scorehmr
    for cls, spec in _every_option(blender):
        before = getattr(settings, spec.panel_name)
        values = ([v for v, _, _ in spec.choices] if spec.choices else [not spec.default] if spec.kind is bool
                  else [spec.low, spec.high])
        try:
            for value in values:
                setattr(settings, spec.panel_name, value)
                assert getattr(bridge.panel_options(settings, cls), spec.name) == pytest.approx(value), spec.name
        finally:
            setattr(settings, spec.panel_name, before)
    assert bridge.panel_options(settings, blender.sub("server.options").CaptureOptions) == \
        blender.sub("server.options").CaptureOptions()


def test_every_option_is_drawn(blender) -> None:
    """The options the panels do not lay out themselves are drawn in their Advanced sections."""
    panels = blender.sub("panels")
    options = blender.sub("server.options")
    drawn = set()

    class Layout:
        def panel(self, *_args, **_kwargs):
            return self, self

        def label(self, **_kwargs):
            pass

        def prop(self, _data, name, **_kwargs):
            drawn.add(name)

    for cls in (options.CaptureOptions, options.CleanupOptions):
        panels.draw_advanced(Layout(), blender.bpy.context.scene.scorehmr, cls)
        laid_out = {s.panel_name for s in options.options_of(cls) if s.name in panels.LAID_OUT[cls]}
        assert {s.panel_name for s in options.options_of(cls)} == drawn | laid_out
        drawn.clear()
