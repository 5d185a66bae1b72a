"""Registration: the explicit class list, property pointers and the file-load handler."""
from __future__ import annotations

import logging

import bpy

from . import body_sliders, bridge, properties
from .operators import OPERATOR_CLASSES
from .operators_import import IMPORT_CLASSES, menu_import_results
from .operators_motion import MOTION_OPERATOR_CLASSES, menu_import
from .operators_retarget import RETARGET_CLASSES
from .panels import PANEL_CLASSES
from .preferences import SCOREHMR_AddonPreferences

log = logging.getLogger(__name__)

CLASSES = (
    *properties.PROPERTY_CLASSES,
    *body_sliders.SHAPE_CLASSES,
    SCOREHMR_AddonPreferences,
    *OPERATOR_CLASSES,
    *MOTION_OPERATOR_CLASSES,
    *IMPORT_CLASSES,
    *RETARGET_CLASSES,
    *PANEL_CLASSES,
)

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


@bpy.app.handlers.persistent
def _on_load_pre(*_args) -> None:
    """A file is being loaded: stop the running job (its results would have nowhere to go)."""
    bridge.stop_all()


def register() -> None:
    _register_classes()
    properties.attach()
    body_sliders.attach_property()
    bpy.app.handlers.load_pre.append(_on_load_pre)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)
    bpy.types.TOPBAR_MT_file_import.append(menu_import_results)


def unregister() -> None:
    bridge.stop_all()
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    bpy.types.TOPBAR_MT_file_import.remove(menu_import_results)
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    body_sliders.detach_property()
    properties.detach()
    _unregister_classes()
