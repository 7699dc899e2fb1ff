"""``astra srun`` as one Slurm job array: one element per share, and failed elements submitted again.

The work is split once, at submission, into shares, and one job array is submitted whose element
``i`` runs share ``i`` (``#SBATCH --array=0-<n-1>%<max running>``; the element reads its index
from ``$ASTRA_SHARE_INDEX``, which the script sets to ``$SLURM_ARRAY_TASK_ID``):

* a ``@task`` method over the catalogue (:func:`plan_catalogue_array`): the shares are the
  ``spectrum_pk`` ranges of :func:`~astra.cluster.shares.split_spectrum_pks`, all listed
  on the script's command line (``--spectrum-pk-range ... --range-per-process``);
* a class-style task over files (:func:`plan_files_array`): the data-model keys found at
  submission are cut into contiguous runs (:func:`~astra.cluster.shares.partition_batches`)
  and each run is written as a keys table ``<index>.csv`` into a directory named after its
  content (``astra run ... --keys-table DIR --keys-table-per-process``).

Either way a share is fixed when it is written: submitting an element again (the same script,
``sbatch --array=<i>``) runs the same spectra, and skips those that already have their result.
The ledger (:func:`astra.cluster.slurm.read_ledger`) records the array with its shares, and each
re-submission with the array it repeats and its elements (:func:`attempts`), so that
``astra srun --resubmit-failed <job>`` finds the latest attempt of every element.
"""

import csv
import dataclasses
import hashlib
import io
import os
import re

from astra.cluster import slurm
from astra.cluster.shares.split import SpectrumShare, partition_batches, split_spectrum_pks
from astra.cluster.slurm_arrays import element_id, split_element
from astra.cluster.spectrum_jobs import job_command
from astra.targets import atomic_open

__all__ = ["ArrayJob", "plan_catalogue_array", "plan_files_array", "write_keys_tables", "find_array",
           "attempts", "failed_elements", "resubmit", "catalogue_shares"]


@dataclasses.dataclass
class ArrayJob:
    """One job array of an ``astra srun`` submission.

    :param shares: its shares, one per element, in element order (:class:`SpectrumShare` for the
        catalogue form; the number of spectra of each keys table for files).
    :param script: the rendered job script.
    :param ledger: what the ledger records about the array (its form and shares).
    :param job_id: the array job id once submitted.
    """

    shares: list
    script: str
    ledger: dict
    job_id: str = ""

    @property
    def count(self):
        """The number of elements."""
        return len(self.shares)

    def elements(self):
        """The element names ``<job id>_<index>``, in order."""
        return [element_id(self.job_id, index) for index in range(self.count)]


def _check(elements, max_running):
    if int(elements) < 1:
        raise ValueError(f"--elements must be at least 1, not {elements}")
    if max_running is not None and int(max_running) < 1:
        raise ValueError(f"--max-running must be at least 1, not {max_running}")


def plan_catalogue_array(keys, task, model, run_args, elements, max_running=None, details=None, **render_options):
    """The job array of a ``@task`` method over catalogue spectra: one element per ``spectrum_pk`` range.

    :param keys: the ``spectrum_pk`` of the spectra to run.
    :param task: the method as given on the command line.
    :param model: the catalogue model's name.
    :param run_args: ``astra run`` options and method parameters for every element.
    :param elements: shares asked for; with fewer spectra, one element per spectrum.
    :param max_running: most elements running at once (``None``: no limit).
    :param details: more fields for the ledger (``where``, ``retry_failed``, ...).
    :param render_options: passed to :func:`astra.cluster.slurm.render_job_script`.
    :returns: an :class:`ArrayJob`.
    :raises ValueError: for bad counts or Slurm option values.
    """
    _check(elements, max_running)
    shares = [share for share in split_spectrum_pks(keys, int(elements)) if not share.empty]
    script = slurm.render_job_script(job_command(task, model, run_args, shares), nodes=1, tasks_per_node=1,
                                     array=(len(shares), max_running), **render_options)
    ledger = {"form": "catalogue", "task": task, "model": model, "count": len(shares), "max_running": max_running,
              "shares": [[share.lo, share.hi, share.count] for share in shares], **(details or {})}
    return ArrayJob(shares, script, ledger)


def catalogue_shares(ledger):
    """The :class:`SpectrumShare` of each element of a catalogue array, from its ledger record.

    :param ledger: the ``array`` field of the ledger record.
    """
    return [SpectrumShare(index, lo, hi, count) for index, (lo, hi, count) in enumerate(ledger["shares"])]


def write_keys_tables(rows, elements, jobs_dir, name):
    """Cut ``rows`` into contiguous runs and write each as a keys table ``<index>.csv``.

    The directory is ``<jobs_dir>/<name>-keys-<hash of the rows>``: the same rows give the same
    directory. Each table is written atomically.

    :param rows: dicts of data-model key name to value, in a fixed order (as found).
    :param elements: runs asked for; with fewer rows, one per row.
    :param jobs_dir: the jobs directory.
    :param name: the job name.
    :returns: ``(directory, [rows per table])``.
    """
    runs = [run for run in partition_batches(rows, int(elements)) if run]
    columns = []
    for row in rows:
        columns.extend(name_ for name_ in row if name_ not in columns)
    texts = []
    for run in runs:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(run)
        texts.append(buffer.getvalue())
    digest = hashlib.sha1("\0".join(texts).encode("utf-8")).hexdigest()[:12]
    directory = os.path.join(os.path.abspath(jobs_dir), f"{name}-keys-{digest}")
    os.makedirs(directory, exist_ok=True)
    for index, text in enumerate(texts):
        with atomic_open(os.path.join(directory, f"{index}.csv"), "w", encoding="utf-8") as fp:
            fp.write(text)
    return directory, [len(run) for run in runs]


def plan_files_array(rows, task, run_args, elements, jobs_dir, job_name, max_running=None, **render_options):
    """The job array of a class-style task over files: one element per keys table.

    :param rows: the data-model keys found at submission (:func:`astra.runner.find_rows`).
    :param task: the task class as given (``module.Class``).
    :param run_args: ``astra run`` options and task parameters, without ``--limit`` and ``--keys-table``.
    :param elements: shares asked for; with fewer spectra, one element per spectrum.
    :param jobs_dir: the jobs directory (the keys tables go there).
    :param job_name: the job name.
    :param max_running: most elements running at once (``None``: no limit).
    :param render_options: passed to :func:`astra.cluster.slurm.render_job_script`.
    :returns: an :class:`ArrayJob`.
    """
    _check(elements, max_running)
    directory, counts = write_keys_tables(rows, elements, jobs_dir, re.sub(r"[^A-Za-z0-9_.+-]", "_", job_name)[:120])
    argv = [slurm.ASTRA_PROGRAM, "run", task, *[str(a) for a in run_args], "--keys-table", directory,
            "--keys-table-per-process"]
    script = slurm.render_job_script(argv, nodes=1, tasks_per_node=1, array=(len(counts), max_running),
                                     output_dir=jobs_dir, job_name=job_name, **render_options)
    ledger = {"form": "files", "task": task, "count": len(counts), "max_running": max_running,
              "shares": counts, "keys_dir": directory}
    return ArrayJob(counts, script, ledger)


def find_array(jobs_dir, job_id):
    """The ledger record of the job array that ``job_id`` submitted (or re-submitted elements of).

    :param jobs_dir: the jobs directory.
    :param job_id: an array job id (or an element name, ``<id>_<index>``).
    :returns: the record of the original array (with its ``array`` field).
    :raises ValueError: naming the ledger, when the job is not an array of this jobs directory.
    """
    job_id = str(job_id).strip()
    if "_" in job_id:
        job_id = split_element(job_id)[0]
    records = {str(record["job_id"]): record for record in slurm.read_ledger(jobs_dir)}
    record = records.get(job_id)
    if record is not None and record.get("resubmits"):
        record = records.get(str(record["resubmits"]))
    if record is None or not record.get("array"):
        where = os.path.join(jobs_dir, slurm.LEDGER_NAME)
        raise ValueError(f"job {job_id} is not a job array that astra srun submitted (not in {where}"
                         + (", or submitted without --elements/--max-running" if record else "") + "); "
                         "give --jobs-dir if it was submitted with another")
    return record


def attempts(jobs_dir, record):
    """The latest attempt of each element of an array: ``{index: element name}``.

    :param jobs_dir: the jobs directory.
    :param record: the array's ledger record (:func:`find_array`).
    """
    latest = {index: element_id(record["job_id"], index) for index in range(record["array"]["count"])}
    for other in slurm.read_ledger(jobs_dir):
        if str(other.get("resubmits")) == str(record["job_id"]):
            for index in other.get("elements", ()):
                latest[int(index)] = element_id(other["job_id"], index)
    return latest


def failed_elements(latest, env=None):
    """The elements whose latest attempt ended without completing, and every state.

    :param latest: from :func:`attempts`.
    :param env: environment for the Slurm commands.
    :returns: ``(indices, {element name: state})``; an element still pending or running is not failed.
    """
    states = slurm.job_status(list(latest.values()), env=env)
    failed = [index for index, name in sorted(latest.items())
              if states[name].split()[0] not in slurm.ACTIVE_STATES and states[name].split()[0] != "COMPLETED"]
    return failed, states


def resubmit(jobs_dir, record, indices, max_running=None, env=None):
    """Submit elements of an array again, alone: the same script with ``sbatch --array=<indices>``.

    :param jobs_dir: the jobs directory.
    :param record: the array's ledger record.
    :param indices: the element indices to run again.
    :param max_running: most of them running at once (default: the array's own limit).
    :param env: environment for ``sbatch``.
    :returns: the new array job id; its elements keep their indices (``<new id>_<index>``).
    :raises ValueError: when the script is gone.
    :raises astra.cluster.SlurmError: when ``sbatch`` fails.
    """
    script_path = record["script"]
    try:
        with open(script_path, encoding="utf-8") as fp:
            script = fp.read()
    except OSError as error:
        raise ValueError(f"cannot read the job script {script_path} of job {record['job_id']}: {error}") from None
    limit = max_running if max_running is not None else record["array"].get("max_running")
    option = "--array=" + ",".join(str(int(i)) for i in sorted(indices)) + (f"%{int(limit)}" if limit else "")
    return slurm.submit(script, jobs_dir=jobs_dir, sbatch_args=[option], env=env,
                        ledger={"resubmits": str(record["job_id"]), "elements": sorted(int(i) for i in indices)})

