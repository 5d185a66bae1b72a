"""ScoreHMR motion capture for Blender: footage in, a keyframed SMPL armature out.

Only registration lives here; bpy is imported inside the functions so the package's pure modules
(worker_client, worker_setup, capture_result, blender_frames, panel_errors, ...) import without Blender.
"""


def register() -> None:
    from . import registration
    registration.register()


def unregister() -> None:
    from . import registration
    registration.unregister()
