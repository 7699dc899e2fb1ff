"""Slurm job arrays: the ``--array`` directive and the state of each element.

``astra srun`` submits one job array with one element per share (:mod:`astra.cluster.array_jobs`).
An element is named ``<array job id>_<index>``, as ``squeue`` and ``sacct`` name it, and
:func:`astra.cluster.slurm.job_status` hands such names to :func:`element_states`, which asks,
once per array:

* ``squeue -r -t all -j <array job id>``: one line per element, pending ones too (``-r``);
* ``scontrol show job -o``: elements ``squeue`` no longer lists but the controller still holds
  (for ``MinJobAge`` seconds after they ended), by ``ArrayJobId`` and ``ArrayTaskId``;
* ``sacct -X -j <array job id>`` when the cluster keeps accounting.

An element cancelled while it was still pending never becomes a job of its own: Slurm only
removes it from the array's pending range, so no source lists it afterwards. Such an element
(and one the controller has forgotten, without accounting) is ``UNKNOWN``: it did not complete,
and ``astra srun --resubmit-failed`` submits it again.
"""

import re

from astra.cluster.slurm_commands import parse_key_values as _parse_key_values
from astra.cluster.slurm_commands import run as _run
from astra.cluster.slurm_commands import run_with_retry as _run_with_retry

__all__ = ["array_directive", "split_element", "element_id", "expand_task_ids", "element_states"]

_ELEMENT_RE = re.compile(r"^(\d+)_(\d+)$")


def array_directive(count, max_running=None):
    """The ``--array`` option of a job array of ``count`` elements indexed from 0.

    :param count: number of elements, at least 1.
    :param max_running: most elements running at once (Slurm's ``%`` throttle); ``None`` for no limit.
    :returns: e.g. ``"--array=0-7%2"``.
    :raises ValueError: if ``count`` or ``max_running`` is less than 1.
    """
    count = int(count)
    if count < 1:
        raise ValueError("a job array needs at least 1 element, not {}".format(count))
    directive = "--array=0-{}".format(count - 1)
    if max_running is not None:
        if int(max_running) < 1:
            raise ValueError("--max-running must be at least 1, not {}".format(max_running))
        directive += "%{}".format(int(max_running))
    return directive


def element_id(job_id, index):
    """The name of element ``index`` of array ``job_id``: ``"<job_id>_<index>"``.

    :param job_id: the array job id.
    :param index: the element's ``SLURM_ARRAY_TASK_ID``.
    """
    return "{}_{}".format(job_id, int(index))


def split_element(name):
    """``(array job id, index)`` of an element name such as ``"42_3"``.

    :param name: the element's name.
    :raises ValueError: if ``name`` is not ``<digits>_<digits>``.
    """
    match = _ELEMENT_RE.match(str(name).strip())
    if not match:
        raise ValueError("not a job array element (<array job id>_<index>): {!r}".format(name))
    return match.group(1), int(match.group(2))


def expand_task_ids(text):
    """The indices of a Slurm ``ArrayTaskId`` / ``%i`` range: ``"2-4,7%2"`` gives ``[2, 3, 4, 7]``.

    :param text: the range as Slurm prints it (with or without brackets and throttle).
    :returns: a list of ints; empty when ``text`` names none.
    """
    text = text.strip().strip("[]").split("%")[0]
    indices = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        step = 1
        if ":" in hi:
            hi, step = hi.split(":", 1)
            step = int(step)
        if not lo.isdigit() or (hi and not hi.isdigit()):
            continue
        indices.extend(range(int(lo), int(hi or lo) + 1, step))
    return indices


def element_states(elements, env=None, attempts=5, backoff=0.5):
    """The Slurm state of each job array element.

    :param elements: element names, ``"<array job id>_<index>"``.
    :param env: environment for the Slurm commands.
    :param attempts: tries per command when it fails transiently.
    :param backoff: first wait between tries in seconds, doubled each time.
    :returns: ``{element: state}``: ``PENDING``, ``RUNNING``, ``COMPLETED``, ``CANCELLED``,
        ``FAILED``, ...; ``UNKNOWN`` for an element no source lists (see the module's text).
    :raises ValueError: for a name that is not an element.
    :raises astra.cluster.SlurmError: when ``squeue`` keeps failing.
    """
    wanted = {}
    for name in elements:
        job_id, index = split_element(name)
        wanted.setdefault(job_id, set()).add(index)
    states = {}

    def note(job_id, index, state):
        if index in wanted.get(job_id, ()) and state:
            states.setdefault(element_id(job_id, index), state.split()[0])

    arrays = sorted(wanted)
    result = _run_with_retry(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(arrays)],
                             env=env, attempts=attempts, backoff=backoff, not_found_ok=True)
    for line in result.stdout.splitlines() if result.returncode == 0 else ():
        name, _, state = line.strip().partition("|")
        job_id, _, ids = name.partition("_")
        for index in expand_task_ids(ids):
            note(job_id, index, state)
    if len(states) < sum(len(v) for v in wanted.values()):
        result = _run_with_retry(["scontrol", "show", "job", "-o"], env=env, attempts=attempts,
                                 backoff=backoff, not_found_ok=True)
        for line in result.stdout.splitlines() if result.returncode == 0 else ():
            fields = _parse_key_values(line)
            if fields.get("ArrayJobId") in wanted:
                for index in expand_task_ids(fields.get("ArrayTaskId", "")):
                    note(fields["ArrayJobId"], index, fields.get("JobState"))
    if len(states) < sum(len(v) for v in wanted.values()):
        result = _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(arrays)], env=env, timeout=30)
        for line in result.stdout.splitlines() if result.returncode == 0 else ():
            name, _, state = line.partition("|")
            job_id, _, ids = name.partition("_")
            for index in expand_task_ids(ids):
                note(job_id, index, state)
    return {str(name): states.get(str(name).strip(), "UNKNOWN") for name in elements}
