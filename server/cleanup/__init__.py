"""Keyframe cleanup with the diffusion prior: denoise and complete SMPL motion.

:mod:`.methods` drives the two methods (:mod:`.dposer`, :mod:`.guided`) over one problem (:mod:`.problem`) with
:mod:`.settings`; :mod:`.sequence` reads and writes pose sequences; :mod:`.filters` holds the classic filters the
benchmark compares. The job around it (files in, file out, foot locking) is :mod:`server.jobs.cleanup`.
"""
