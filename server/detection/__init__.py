"""Detection of a clip on every core: chunks (:mod:`.chunks`), the job a detector process runs on one
(:mod:`.chunk_job`), the processes (:mod:`.pool`) and the capture's pass over its views (:mod:`.clip_pass`)."""
