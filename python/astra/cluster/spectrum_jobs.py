"""``astra srun <task> <SpectrumModel>``: the Slurm jobs of a ``@task`` over the catalogue.

At submission the spectra that need the method are found once
(:func:`~astra.tasks.function_runner.pending_keys`, the query ``astra run`` uses) and split
into ``jobs × nodes × procs`` disjoint ``spectrum_pk`` ranges balanced by count
(:func:`~astra.cluster.shares.split_spectrum_pks`). Each job runs ``srun`` with
``nodes × procs`` processes of::

    astra run <task> <Model> [its options] --spectrum-pk-range LO0 HI0 --spectrum-pk-range LO1 HI1 ... --range-per-process

and process ``$SLURM_PROCID`` of the job takes the range at that position. A job with fewer
shares than processes (fewer spectra than processes) asks for fewer nodes and processes; a job
that would have no share is not submitted.
"""

import dataclasses

from astra.cluster import slurm
from astra.cluster.slurm import ASTRA_PROGRAM
from astra.cluster.shares.split import shares_of_job, split_spectrum_pks

__all__ = ["SpectrumJob", "plan_jobs", "job_command", "job_layout"]


@dataclasses.dataclass
class SpectrumJob:
    """One Slurm job of a catalogue submission.

    :param index: the job's position.
    :param shares: its non-empty :class:`~astra.cluster.shares.SpectrumShare`, one per process.
    :param nodes: nodes it asks for.
    :param procs: processes per node.
    :param script: the rendered job script.
    :param job_id: the Slurm job id once submitted.
    """

    index: int
    shares: list
    nodes: int
    procs: int
    script: str = ""
    job_id: str = ""

    @property
    def count(self):
        """Spectra in the job's shares."""
        return sum(share.count for share in self.shares)


def job_layout(n_shares, nodes, procs):
    """``(nodes, procs)`` for a job of ``n_shares`` processes asked as ``nodes × procs``.

    A job whose shares fill every process keeps the layout; a smaller one asks for no more
    nodes than it has shares, and no more processes per node than it needs.

    :param n_shares: the job's non-empty shares (at least 1).
    :param nodes: nodes asked for.
    :param procs: processes per node asked for.
    """
    if n_shares >= nodes * procs:
        return nodes, procs
    nodes = min(nodes, n_shares)
    return nodes, -(-n_shares // nodes)


def job_command(task, model, run_args, shares):
    """The ``astra run`` command line (as ``["astra", "run", ...]``) of a job's processes.

    :param task: the method as given on the command line (registered name or ``module.function``).
    :param model: the catalogue model's name.
    :param run_args: ``astra run`` options and the method's parameters, without ``--limit``.
    :param shares: the job's shares, one per process.
    """
    argv = [ASTRA_PROGRAM, "run", task, model] + [str(arg) for arg in run_args]
    for share in shares:
        argv += ["--spectrum-pk-range", str(share.lo), str(share.hi)]
    return argv + ["--range-per-process"]


def plan_jobs(keys, task, model, run_args, jobs=1, nodes=1, procs=1, **render_options):
    """Split ``keys`` and render one script per job that has a share.

    :param keys: the ``spectrum_pk`` of the spectra to run.
    :param task: the method as given on the command line.
    :param model: the catalogue model's name.
    :param run_args: ``astra run`` options and method parameters for every process.
    :param jobs: jobs to split over.
    :param nodes: nodes per job.
    :param procs: processes per node.
    :param render_options: passed to :func:`astra.cluster.slurm.render_job_script` (``time``,
        ``mem``, ``output_dir``, ``environment``, ...).
    :returns: ``(shares, planned)``: every share, and the :class:`SpectrumJob` list (jobs
        without a share left out).
    :raises ValueError: from the rendering (bad Slurm option values).
    """
    per_job = nodes * procs
    shares = split_spectrum_pks(keys, jobs * per_job)
    planned = []
    for index in range(jobs):
        mine = shares_of_job(shares, index, per_job)
        if not mine:
            continue
        job_nodes, job_procs = job_layout(len(mine), nodes, procs)
        job = SpectrumJob(index, mine, job_nodes, job_procs)
        job.script = slurm.render_job_script(job_command(task, model, run_args, mine), nodes=job_nodes,
                                             tasks_per_node=job_procs, **render_options)
        planned.append(job)
    return shares, planned
