"""The camera's own rotation in hand-held footage, from the background (OpenCV + numpy, no torch).

:mod:`.estimate` finds each frame's camera rotation relative to the first frame (sampled frames chained and closed
on the first frame, optical flow through fast turns, rotations interpolated between), with :mod:`.matching` (two
frames' consensus rotations: ORB or flow, RANSAC on rotations against the person and other movers); :mod:`.follow`
is the capture's camera stage (the check, the detectors' chunks joined, the body into the first frame's world);
:mod:`.lens` the focal length; :mod:`.virtual` makes moving-camera footage with a KNOWN rotation from a static clip
(each frame warped through ``K R_t K^-1``), the test and benchmark material. Convention: ``R_t`` maps the first
frame's camera coordinates onto frame t's, ``x_t = R_t x_0``.
"""
