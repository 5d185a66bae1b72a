"""Motion-capture data: BVH and DeepMimic readers, retargeting to SMPL's 24 joints, the pooled pose dataset.

numpy only (no torch): the trainer in ``server/train`` reads the dataset through :func:`.dataset.load_pose_dataset`.
"""
