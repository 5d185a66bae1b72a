"""Putting a capture in the world: the ground plane, foot contacts and foot locking.

:mod:`.place` stands the body on the ground it finds, :mod:`.lock` holds the feet during contacts (through the
cleanup's optimisation), :mod:`.capture_world` runs both as the capture's place stage; the ground and contact terms
they share with the cleanup live in :mod:`server.world.feet`.
"""
