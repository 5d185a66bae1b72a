"""The add-on's modules that do not import bpy: the worker client and its set-up, the result as the add-on keys it,
the keying and retargeting maths, the panel's state and errors. They import without Blender (tests, the type check);
the package above holds everything that imports bpy (operators, panels, properties, keying)."""
