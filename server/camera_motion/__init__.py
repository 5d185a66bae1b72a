"""The camera's own rotation in hand-held footage, from the background (OpenCV + numpy, no torch).

:mod:`.estimate` finds each frame's camera rotation relative to the first frame from background features on sampled
frames (homography -> nearest rotation through the intrinsics, RANSAC against the person and other movers, chained
from sampled frame to sampled frame and closed on the first frame where it is still in view, rotations interpolated
between sampled frames); :mod:`.virtual` makes moving-camera footage with a KNOWN rotation from a static clip (each
frame warped through ``K R_t K^-1``), the test and benchmark material. Convention: ``R_t`` maps the first frame's
camera coordinates onto frame t's, ``x_t = R_t x_0``.
"""
