"""Running Astra on clusters: a central Luigi scheduler (luigid) and Slurm jobs.

* :mod:`astra.cluster.luigid` starts and queries a real ``luigid``.
* :mod:`astra.cluster.slurm` renders Slurm job scripts, submits them and follows them.
* :mod:`astra.cluster.shares` splits the work of `astra srun` into disjoint shares, for both
  method styles, and follows a submission's progress.
"""

from astra.cluster.luigid import LuigidError, LuigidProcess, count_requests, free_port, start_luigid
from astra.cluster.shares import partition_batches, select_share, worker_share
from astra.cluster.slurm import (
    SlurmError,
    astra_command,
    cancel,
    default_jobs_dir,
    job_status,
    luigi_command,
    read_ledger,
    render_job_script,
    slurm_available,
    submit,
    wait_for_jobs,
)

__all__ = [
    "LuigidError", "LuigidProcess", "count_requests", "free_port", "start_luigid",
    "partition_batches", "select_share", "worker_share",
    "SlurmError", "astra_command", "cancel", "default_jobs_dir", "job_status", "luigi_command", "read_ledger",
    "render_job_script", "slurm_available", "submit", "wait_for_jobs",
]
