"""Body model: SMPL's joint layout, the rest skeleton and (later) the mesh, joint and landmark regressors."""
