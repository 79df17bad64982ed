"""Runs the stages of a hardneg run folder as Ray tasks (see `python -m hardneg_ray --help`).

hardneg supplies deterministic, resumable stage commands over a run folder; Ray places the
shards on CPUs and GPUs, retries the ones that fail and reports progress. Every task runs the
`hardneg` binary as a subprocess, so worker nodes need only the binary, the model folder and the
run folder on a shared filesystem (at the same paths as on the driver).
"""
