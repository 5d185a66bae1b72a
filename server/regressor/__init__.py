"""The learned initial estimate: BlazePose keypoints -> SMPL pose, shape and camera (ScoreHMR's regression start)."""
