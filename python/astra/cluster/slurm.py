"""Slurm jobs that run Luigi workers: write the job file, submit it, follow it.

Job *file generation* is separate from *submission* (as in b2luigi):

* :func:`render_job_script` fills ``etc/slurm-job.sh.template`` and returns the script
  text; nothing touches Slurm.  ``astra srun --dry-run`` prints this.
* :func:`submit` writes the script atomically into a jobs directory, runs
  ``sbatch --parsable`` and records the job id in that directory's ledger
  (``ledger.jsonl``), so ``astra squeue`` can list the jobs Astra submitted.
* :func:`job_status` asks ``squeue`` (then ``scontrol show job``, ``sacct`` and the
  ``jobcomp/filetxt`` log) for the states, retrying transient failures with backoff.
* :func:`cancel` runs ``scancel``; :func:`slurm_available` says whether a cluster answers.
"""

import getpass
import hashlib
import json
import os
import re
import shlex
import string
import sys
import time

from astra import config
from astra.cluster.slurm_commands import SlurmError
from astra.cluster.slurm_commands import CommandFailed as _CommandFailed
from astra.cluster.slurm_commands import parse_key_values as _parse_key_values
from astra.cluster.slurm_commands import run as _run
from astra.cluster.slurm_commands import run_with_retry as _run_with_retry
from astra.cluster.slurm_arrays import array_directive, element_states
from astra.retry import RetryPolicy
from astra.targets import atomic_open
from astra.version import __version__

__all__ = [
    "SlurmError", "render_job_script", "luigi_command", "astra_command", "ASTRA_PROGRAM", "submit", "job_status", "cancel",
    "slurm_available", "wait_for_jobs", "default_jobs_dir", "ACTIVE_STATES", "read_ledger", "template_path",
    "TRANSIENT_PATTERNS", "LEDGER_NAME", "combined_state",
]

#: Name of the ledger file in a jobs directory (one JSON object per line).
LEDGER_NAME = "ledger.jsonl"

#: Error messages of Slurm client commands that mean "try again".
TRANSIENT_PATTERNS = (
    "Socket timed out",
    "slurm_load_jobs error",
    "Unable to contact slurm controller",
    "Connection refused",
    "Connection timed out",
    "Transport endpoint",
    "Resource temporarily unavailable",
    "Zero Bytes were transmitted or received",
)

#: States of jobs that have not finished yet.
ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED",
                           "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING",
                           "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"})

_JOB_NAME_RE = re.compile(r"[^A-Za-z0-9_.+-]")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def template_path():
    """Return the path of the job template shipped with Astra.

    :returns: path of ``astra/etc/slurm-job.sh.template``.
    """
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "etc", "slurm-job.sh.template")


def default_jobs_dir():
    """Return the directory for job scripts, logs and the ledger.

    ``$ASTRA_JOBS_DIR`` if set, else ``<output_dir>/slurm-jobs`` with ``output_dir`` from
    Astra's configuration (``$ASTRA_OUTPUT_DIR``).

    :returns: a directory path (not created).
    """
    if os.environ.get("ASTRA_JOBS_DIR"):
        return os.environ["ASTRA_JOBS_DIR"]
    return os.path.join(config.get("output_dir") or os.path.expanduser("~/astra-output"),
                        "slurm-jobs")


#: First element of a ``command_argv`` that runs an ``astra`` subcommand instead of ``luigi``.
ASTRA_PROGRAM = "astra"


def _luigi_executable():
    candidate = os.path.join(os.path.dirname(sys.executable), "luigi")
    return candidate if os.path.exists(candidate) else "luigi"


def luigi_command(module, task, task_args=(), scheduler_host=None, scheduler_port=None,
                  workers=1, luigi_executable=None):
    """Build the argv of one Luigi worker process.

    :param module: module that defines the task, e.g. ``"astra.contrib.rocket"``.
    :param task: task family, e.g. ``"EstimateSNR"``.
    :param task_args: the task's parameters as command-line arguments
        (e.g. ``["--release", "dr16"]``), passed through unchanged.
    :param scheduler_host: luigid host; ``None`` means ``--local-scheduler``.
    :param scheduler_port: luigid port (only with ``scheduler_host``).
    :param workers: Luigi ``--workers`` of the process.  ``--no-lock`` is always added so
        that several processes of one graph may run on the same machine.
    :param luigi_executable: the ``luigi`` program; the one beside the running
        interpreter by default.
    :returns: a list of strings.
    """
    argv = [luigi_executable or _luigi_executable(), "--module", module, task]
    argv.extend(str(arg) for arg in task_args)
    if scheduler_host:
        argv += ["--scheduler-host", str(scheduler_host)]
        if scheduler_port:
            argv += ["--scheduler-port", str(int(scheduler_port))]
    else:
        argv.append("--local-scheduler")
    # --no-lock: Luigi otherwise refuses to start a second process with the same command
    # line on one machine, which is exactly what several workers of one graph are.
    argv += ["--workers", str(int(workers)), "--no-lock"]
    return argv


def astra_command(subcommand, args=(), astra_executable=None):
    """Build the argv of one process running an ``astra`` subcommand (e.g. ``astra run``).

    Such a process schedules its own batches with :func:`astra.build` (a local scheduler,
    unless Astra's ``scheduler_host`` setting names a luigid); under ``astra srun`` it
    keeps only its share of the batches (:func:`astra.cluster.select_share`).

    :param subcommand: the subcommand, e.g. ``"run"``.
    :param args: its arguments, passed through unchanged.
    :param astra_executable: the ``astra`` program; the one beside the running
        interpreter by default.
    :returns: a list of strings.
    """
    if astra_executable is None:
        candidate = os.path.join(os.path.dirname(sys.executable), ASTRA_PROGRAM)
        astra_executable = candidate if os.path.exists(candidate) else ASTRA_PROGRAM
    return [astra_executable, str(subcommand)] + [str(arg) for arg in args]


def _directive_value(name, value):
    value = str(value)
    if "\n" in value or "\r" in value or '"' in value:
        raise ValueError("Slurm option {} must not contain newlines or double quotes: {!r}"
                         .format(name, value))
    return '"{}"'.format(value) if (" " in value or "\t" in value) else value


def render_job_script(command_argv, nodes=1, time=None, mem=None, gres=None, partition=None,
                      account=None, workers_per_node=1, tasks_per_node=1, scheduler_host=None,
                      scheduler_port=None, output_dir=None, job_name=None, environment=None,
                      share=None, workdir=None, extra_sbatch=(), template=None,
                      luigi_executable=None, astra_executable=None, array=None):
    """Render a Slurm batch script that runs Luigi workers.

    ``command_argv`` is the task's command line as given to ``luigi`` after ``--module``:
    ``[module, Task, *task_args]``, e.g. ``["astra.contrib.rocket", "EstimateSNR",
    "--release", "dr16"]``.  The script runs
    ``srun luigi --module <module> <Task> <task_args...> --scheduler-host H
    --scheduler-port P --workers <workers_per_node>`` (or ``--local-scheduler`` when
    ``scheduler_host`` is ``None``), one process per node.  Every argument is quoted with
    :func:`shlex.quote`, so values with spaces, quotes, ``$(...)``, ``;`` or backticks
    reach the task unchanged and are never run by the shell.

    When ``command_argv`` starts with ``"astra"`` (:data:`ASTRA_PROGRAM`), e.g.
    ``["astra", "run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13"]``, each
    node runs that ``astra`` subcommand instead (:func:`astra_command`); it batches and
    schedules by itself, so ``scheduler_host`` must be ``None`` and ``workers_per_node``
    only sets ``--cpus-per-task`` (give ``astra run`` its own ``--workers``).

    :param command_argv: ``[module, Task, *task_args]``, or ``["astra", subcommand, *args]``.
    :param nodes: nodes of the job; ``srun`` starts one worker process on each.
    :param time: ``--time`` limit (e.g. ``"02:00:00"``), or ``None``.
    :param mem: ``--mem`` per node (e.g. ``"4G"``), or ``None``.
    :param gres: ``--gres`` (e.g. ``"gpu:1"``), or ``None``.
    :param partition: ``--partition``, or ``None`` for the cluster's default.
    :param account: ``--account``, or ``None``.
    :param workers_per_node: Luigi workers per node (``--workers``; also
        ``--cpus-per-task``).
    :param tasks_per_node: processes ``srun`` starts on each node (``--ntasks-per-node``,
        default 1); each has its own ``SLURM_PROCID``.
    :param scheduler_host: luigid host, or ``None`` for ``--local-scheduler``.
    :param scheduler_port: luigid port.
    :param output_dir: directory of the job's log file ``<job_name>-<job id>.out``;
        :func:`default_jobs_dir` when ``None``.
    :param job_name: Slurm job name; ``astra-<Task>`` when ``None``.  Characters other
        than letters, digits and ``_.+-`` become ``_``.
    :param environment: mapping of extra variables exported in the script.
    :param share: ``(offset, count)``: export ``ASTRA_SHARE_OFFSET``/``ASTRA_SHARE_COUNT``
        so that, without a central scheduler, the job's node ``i`` takes share
        ``offset + i`` of ``count`` (see :mod:`astra.cluster.shares`).
    :param workdir: working directory of the job (default: the current directory).
    :param extra_sbatch: further ``#SBATCH`` options, e.g. ``["--qos=debug"]``.
    :param template: template text to use instead of the shipped template file.
    :param luigi_executable: the ``luigi`` program; the one beside the running
        interpreter by default.
    :param astra_executable: the ``astra`` program for ``["astra", ...]`` commands; the
        one beside the running interpreter by default.
    :param array: ``(count, max_running)``: a job array of ``count`` elements, at most
        ``max_running`` of them at once (``None``: no limit), written ``#SBATCH
        --array=0-<count-1>%<max_running>``; each element exports ``ASTRA_SHARE_INDEX`` (its
        ``$SLURM_ARRAY_TASK_ID``) and ``ASTRA_SHARE_COUNT`` (``count``), and logs to
        ``<job_name>-<array job id>_<index>.out`` (see :mod:`astra.cluster.slurm_arrays`).
    :returns: the script text.
    :raises ValueError: on invalid values (no module or task, ``nodes < 1``, ...).
    """
    command_argv = [str(arg) for arg in command_argv]
    if len(command_argv) < 2 or command_argv[0].startswith("-") or command_argv[1].startswith("-"):
        raise ValueError("command_argv must start with the module and the task family, "
                         "got {!r}".format(command_argv[:2]))
    nodes, workers_per_node, tasks_per_node = int(nodes), int(workers_per_node), int(tasks_per_node)
    if nodes < 1 or workers_per_node < 1 or tasks_per_node < 1:
        raise ValueError("nodes, workers_per_node and tasks_per_node must be at least 1")
    module, task = command_argv[:2]
    if module == ASTRA_PROGRAM:
        if scheduler_host:
            raise ValueError("an astra {} command schedules its own batches; it takes no "
                             "scheduler_host (set Astra's scheduler_host setting instead)".format(task))
        argv = astra_command(task, command_argv[2:], astra_executable)
    else:
        argv = luigi_command(module, task, command_argv[2:], scheduler_host, scheduler_port,
                             workers_per_node, luigi_executable)
    default_name = "astra-" + task
    job_name = _JOB_NAME_RE.sub("_", job_name or default_name)[:120]
    output_dir = os.path.abspath(output_dir or default_jobs_dir())
    workdir = os.path.abspath(workdir or os.getcwd())

    directives = []
    for option, value in (("time", time), ("mem", mem), ("gres", gres),
                          ("partition", partition), ("account", account)):
        if value not in (None, ""):
            directives.append("#SBATCH --{}={}".format(option, _directive_value(option, value)))
    for option in extra_sbatch:
        directives.append("#SBATCH {}".format(_directive_value("extra", option)))
    log_name = "%x-%j.out"
    if array is not None:
        if share is not None:
            raise ValueError("a job array gives each element its share; share must be None")
        directives.insert(0, "#SBATCH " + array_directive(*array))
        log_name = "%x-%A_%a.out"

    exports = []
    for name, value in sorted((environment or {}).items()):
        if not _ENV_NAME_RE.match(name):
            raise ValueError("invalid environment variable name {!r}".format(name))
        exports.append("export {}={}".format(name, shlex.quote(str(value))))
    if share is not None:
        offset, count = int(share[0]), int(share[1])
        if count < 1 or not 0 <= offset < count:
            raise ValueError("share offset {} is outside 0..{}".format(offset, count - 1))
        exports.append("export ASTRA_SHARE_COUNT={}".format(count))
        exports.append("export ASTRA_SHARE_OFFSET={}".format(offset))
    if array is not None:  # the element's share is its array index (astra.cluster.shares)
        exports.append('export ASTRA_SHARE_INDEX="$SLURM_ARRAY_TASK_ID"')
        exports.append("export ASTRA_SHARE_COUNT={}".format(int(array[0])))

    if template is None:
        with open(template_path(), "r", encoding="utf-8") as fp:
            template = fp.read()
    return string.Template(template).substitute(
        astra_version=__version__,
        job_name=job_name,
        nodes=nodes,
        tasks_per_node=tasks_per_node,
        workers_per_node=workers_per_node,
        output_path=_directive_value("output", os.path.join(output_dir, log_name)),
        workdir=_directive_value("chdir", workdir),
        sbatch_directives="\n".join(directives),
        environment="\n".join(exports),
        command=" ".join(shlex.quote(arg) for arg in argv),
    )


def _append_ledger(jobs_dir, record):
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(os.path.join(jobs_dir, LEDGER_NAME), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_ledger(jobs_dir=None):
    """Return the jobs recorded in a jobs directory's ledger, oldest first.

    :param jobs_dir: the jobs directory; :func:`default_jobs_dir` when ``None``.
    :returns: a list of dicts with ``job_id``, ``job_name``, ``script``, ``submitted``
        (Unix time), ``user`` and ``command``; empty when there is no ledger.
    """
    path = os.path.join(jobs_dir or default_jobs_dir(), LEDGER_NAME)
    records = []
    try:
        with open(path, "r", encoding="utf-8") as fp:
            for line in fp:
                line = line.strip()
                if line:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        continue  # a torn line from a crash; keep the others
    except FileNotFoundError:
        pass
    return records


def submit(script_text, jobs_dir=None, sbatch_args=(), env=None, attempts=3, backoff=1.0, ledger=None):
    """Write a job script into ``jobs_dir`` and submit it with ``sbatch --parsable``.

    The file name is ``<job name>-<hash of the script>.sh`` (the same script is the same
    file); it is written atomically.  The job id is appended to ``ledger.jsonl`` in
    ``jobs_dir``.

    :param script_text: the script, e.g. from :func:`render_job_script`.
    :param jobs_dir: where the script and ledger go; :func:`default_jobs_dir` if ``None``.
    :param sbatch_args: extra ``sbatch`` arguments (they override the ``#SBATCH`` lines).
    :param env: environment for ``sbatch`` (the job inherits it); current one if ``None``.
    :param attempts: tries when ``sbatch`` fails transiently (it is not retried after
        it printed a job id).
    :param backoff: first wait between tries, doubled each time.
    :param ledger: further fields of the job's ledger record (e.g. a job array's shares).
    :returns: the job id (a string such as ``"42"``).
    :raises SlurmError: if ``sbatch`` fails or prints no job id.
    """
    jobs_dir = os.path.abspath(jobs_dir or default_jobs_dir())
    os.makedirs(jobs_dir, exist_ok=True)
    match = re.search(r"^#SBATCH\s+--job-name=(\S+)", script_text, re.M)
    job_name = match.group(1) if match else "astra-job"
    digest = hashlib.sha1(script_text.encode("utf-8")).hexdigest()[:12]
    script_path = os.path.join(jobs_dir, "{}-{}.sh".format(job_name, digest))
    with atomic_open(script_path, "w", encoding="utf-8") as fp:
        fp.write(script_text)
        os.fchmod(fp.fileno(), 0o755)
    output = re.search(r"^#SBATCH\s+--output=\"?([^\"\n]+)", script_text, re.M)
    if output:  # sbatch does not create the log directory
        os.makedirs(os.path.dirname(output.group(1)) or ".", exist_ok=True)

    argv = ["sbatch", "--parsable"] + [str(arg) for arg in sbatch_args] + [script_path]

    def attempt():  # only a transient failure is tried again, and never one that may have queued the job
        result = _run(argv, env=env)
        if result.returncode == 0 or not any(p in result.stderr for p in TRANSIENT_PATTERNS):
            return result
        if "(stopped by astra)" in result.stderr:
            raise SlurmError("sbatch {} did not answer in time; the job may have been queued: check "
                             "'astra squeue' / squeue before submitting again".format(script_path))
        raise _CommandFailed(result)

    try:
        result = RetryPolicy(tries=max(1, int(attempts)), backoff=backoff,
                             exceptions=(_CommandFailed,)).call_counted(attempt)[0]
    except _CommandFailed as failed:
        result = failed.result
    if result.returncode != 0:
        raise SlurmError("sbatch {} failed (exit {}): {}".format(
            script_path, result.returncode, result.stderr.strip()))
    match = re.match(r"\s*(\d+)", result.stdout)
    if not match:
        raise SlurmError("sbatch printed no job id: {!r}".format(result.stdout))
    job_id = match.group(1)
    command = re.search(r"^srun .*$", script_text, re.M)
    _append_ledger(jobs_dir, {
        "job_id": job_id, "job_name": job_name, "script": script_path,
        "submitted": round(time.time(), 3), "user": getpass.getuser(),
        "command": command.group(0) if command else None, **(ledger or {}),
    })
    return job_id


def _jobcomp_states(job_ids, env=None):
    """States from the ``jobcomp/filetxt`` log, for jobs the controller has forgotten."""
    result = _run(["scontrol", "show", "config"], env=env, timeout=30)
    if result.returncode != 0:
        return {}
    config = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", result.stdout, re.M))
    if config.get("JobCompType") != "jobcomp/filetxt" or not config.get("JobCompLoc"):
        return {}
    states = {}
    try:
        with open(config["JobCompLoc"], "r", encoding="utf-8", errors="replace") as fp:
            for line in fp:
                fields = _parse_key_values(line)
                if fields.get("JobId") in job_ids:
                    states[fields["JobId"]] = fields.get("JobState", "UNKNOWN")
    except OSError:
        return {}
    return states


def job_status(job_ids, env=None, attempts=5, backoff=0.5):
    """Return the Slurm state of each job.

    Asks ``squeue -t all`` (pending, running and recently finished jobs); jobs it does not
    list are looked up with ``scontrol show job``, then ``sacct`` (when accounting is
    enabled) and the ``jobcomp/filetxt`` log.  Transient failures (non-zero exit,
    ``Socket timed out``, ``slurm_load_jobs error``, ...) are retried with exponential
    backoff; an "Invalid job id" answer means the controller no longer knows the job.

    :param job_ids: job ids (strings or ints); an element of a job array is
        ``<array job id>_<index>`` (:func:`astra.cluster.slurm_arrays.element_states`); the
        id of a whole array gets the state of an element still active if any, else of one
        that did not complete if any, else ``COMPLETED`` (an element cancelled while pending
        leaves no trace: ask for the elements to see it).
    :param env: environment for the Slurm commands (e.g. another ``PATH``).
    :param attempts: tries per command before giving up.
    :param backoff: first wait between tries in seconds, doubled each time.
    :returns: ``{job_id: state}`` with states such as ``PENDING``, ``RUNNING``,
        ``COMPLETED``, ``CANCELLED``, ``FAILED``, ``TIMEOUT``; ``UNKNOWN`` when no source
        knows the job.
    :raises SlurmError: when ``squeue`` keeps failing.
    """
    job_ids = [str(job_id) for job_id in job_ids]
    if not job_ids:
        return {}
    elements = [job_id for job_id in job_ids if "_" in job_id]
    if elements:  # elements of job arrays, "<array job id>_<index>": asked per array
        states = element_states(elements, env=env, attempts=attempts, backoff=backoff)
        others = job_status([j for j in job_ids if "_" not in j], env=env, attempts=attempts, backoff=backoff)
        return {job_id: states.get(job_id) or others.get(job_id, "UNKNOWN") for job_id in job_ids}
    wanted, states = set(job_ids), {}
    for start in range(0, len(job_ids), 200):
        chunk = job_ids[start:start + 200]
        result = _run_with_retry(["squeue", "-h", "-t", "all", "-o", "%i|%T", "-j", ",".join(chunk)],
                                 env=env, attempts=attempts, backoff=backoff, not_found_ok=True)
        if result.returncode == 0:
            for line in result.stdout.splitlines():
                job_id, _, state = line.strip().partition("|")
                array_id = job_id.partition("_")[0]  # "42_3" or "42_[4-7%2]": an element of job array 42
                if job_id in wanted and state:
                    states[job_id] = state.strip()
                elif array_id != job_id and array_id in wanted and state:
                    states[array_id] = combined_state(states.get(array_id), state.strip())
    if len(states) < len(wanted):
        # One call for every job the controller still holds (no "Invalid job id" issue).
        result = _run_with_retry(["scontrol", "show", "job", "-o"], env=env,
                                 attempts=attempts, backoff=backoff, not_found_ok=True)
        for line in result.stdout.splitlines() if result.returncode == 0 else ():
            fields = _parse_key_values(line)
            if fields.get("JobId") in wanted and fields.get("JobState"):
                states.setdefault(fields["JobId"], fields["JobState"])
    missing = [j for j in job_ids if j not in states]
    if missing:
        result = _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(missing)],
                      env=env, timeout=30)
        if result.returncode == 0:
            for line in result.stdout.splitlines():
                job_id, _, state = line.partition("|")
                if job_id in missing and state:
                    states[job_id] = state.split()[0]
    missing = [j for j in job_ids if j not in states]
    if missing:
        states.update(_jobcomp_states(set(missing), env=env))
    return {job_id: states.get(job_id, "UNKNOWN") for job_id in job_ids}


def combined_state(so_far, state):
    """The state of a whole job array, from its elements' states one by one: an active one if any, else
    one that did not complete if any, else ``COMPLETED``.

    :param so_far: the state combined from the elements before (``None`` for the first).
    :param state: the next element's state.
    :returns: the combined state.
    """
    def rank(value):
        first = value.split()[0]
        return 2 if first in ACTIVE_STATES else 0 if first == "COMPLETED" else 1
    return state if so_far is None or rank(state) > rank(so_far) else so_far


def wait_for_jobs(job_ids, timeout=600.0, poll=1.0, env=None):
    """Wait until every job has finished (left the pending/running states).

    :param job_ids: job ids.
    :param timeout: seconds before giving up.
    :param poll: seconds between :func:`job_status` calls.
    :param env: environment for the Slurm commands.
    :returns: the final ``{job_id: state}``.
    :raises SlurmError: if a job is still active after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        states = job_status(job_ids, env=env)
        active = {j: s for j, s in states.items() if s.split()[0] in ACTIVE_STATES}
        if not active:
            return states
        if time.monotonic() > deadline:
            raise SlurmError("jobs still active after {}s: {}".format(timeout, active))
        time.sleep(poll)


def cancel(job_id, env=None, attempts=3, backoff=0.5):
    """Cancel a job with ``scancel``.

    :param job_id: the job id.
    :param env: environment for ``scancel``.
    :param attempts: tries on transient failures.
    :param backoff: first wait between tries in seconds.
    :raises SlurmError: if ``scancel`` keeps failing.
    """
    _run_with_retry(["scancel", str(job_id)], env=env, attempts=attempts, backoff=backoff)


def slurm_available(env=None, timeout=15.0):
    """Say whether a Slurm cluster answers and has a usable node.

    :param env: environment for the Slurm commands.
    :param timeout: seconds to wait for ``sinfo``.
    :returns: ``(True, "")`` or ``(False, reason)``.
    """
    for program in ("sbatch", "squeue", "sinfo", "scancel"):
        path = (env or os.environ).get("PATH", os.defpath)
        if not any(os.access(os.path.join(d, program), os.X_OK) for d in path.split(os.pathsep) if d):
            return False, "{} not found on PATH (Slurm client not installed)".format(program)
    result = _run(["sinfo", "-h", "-o", "%n %T"], env=env, timeout=timeout)
    if result.returncode != 0:
        return False, "sinfo failed: {}".format((result.stderr or result.stdout).strip() or
                                                "exit {}".format(result.returncode))
    states = [line.split()[-1] for line in result.stdout.splitlines() if line.strip()]
    usable = [s for s in states if s.rstrip("*~#!%$@^-+").lower() in
              ("idle", "mixed", "allocated", "completing")]
    if not usable:
        return False, "no usable Slurm node (node states: {})".format(", ".join(states) or "none")
    return True, ""
