"""``astra srun`` with Slurm job arrays (the default): submit one array, follow it, re-submit failed elements.

Called by :mod:`astra.commands.srun`; the planning and the ledger are :mod:`astra.cluster.array_jobs`.

* :func:`run_catalogue_array`: ``astra srun <task> <SpectrumModel>``: one element per
  ``spectrum_pk`` range, followed to the summary unless ``--no-wait``;
* :func:`run_files_array`: ``astra srun astra run module.Class --release R ...``: one element
  per keys table, written at submission; prints the array job id;
* :func:`resubmit_failed`: ``astra srun --resubmit-failed <job>``: the elements whose latest
  attempt did not complete, submitted again alone, and (catalogue form) followed.
"""

import datetime
import sys

__all__ = ["elements_asked", "run_catalogue_array", "run_files_array", "resubmit_failed", "follow_shares"]


def elements_asked(args):
    """The number of shares (array elements) asked for: ``--elements``, else ``--jobs × --nodes × --procs``.

    :param args: the parsed :class:`argparse.Namespace`.
    """
    return args.elements if args.elements is not None else args.jobs * args.nodes * args.procs


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def follow_shares(args, function, model_name, pairs, keys, where, submitted, header, jobs_dir):
    """Follow shares run by Slurm jobs or array elements to their summary; the exit status.

    :param args: the parsed arguments (``poll_interval``).
    :param function: the ``@task`` method.
    :param model_name: the catalogue model's name.
    :param pairs: ``(SpectrumShare, job id or element name)`` of every share.
    :param keys: the keys that were shared out.
    :param where: the run's ``--where``.
    :param submitted: when the jobs were submitted (UTC, naive).
    :param header: the display's first line.
    :param jobs_dir: the jobs directory.
    :returns: 0 when every spectrum has its result and every job or element completed, 1 otherwise,
        130 when interrupted.
    """
    import peewee

    from astra.cluster import slurm
    from astra.cluster.shares.progress import ShareProgress, follow

    job_ids = list(dict.fromkeys(str(job_id) for _, job_id in pairs))
    progress = ShareProgress(function, model_name, pairs, keys, where=where, submitted=submitted)
    arrays = sorted({job_id.partition("_")[0] for job_id in job_ids if "_" in job_id})
    try:
        summary, states = follow(progress, job_ids, header, poll=args.poll_interval, jobs_dir=jobs_dir)
    except KeyboardInterrupt:
        print(f"astra srun: stopped following; the jobs go on (astra squeue; scancel {' '.join(arrays or job_ids)})",
              file=sys.stderr)
        return 130
    except (slurm.SlurmError, peewee.DatabaseError) as exc:
        print(f"astra srun: {exc}; stopped following, the jobs go on (astra squeue)", file=sys.stderr)
        return 1
    failed = [job_id for job_id, state in states.items() if state.split()[0] != "COMPLETED"]
    if failed and arrays:
        print(f"  to run the {len(failed)} element(s) that did not complete again, alone: "
              f"astra srun --resubmit-failed {arrays[0]}" + (f" --jobs-dir {args.jobs_dir}" if args.jobs_dir else ""))
    return 0 if summary.success and not failed else 1


def _retries(given):
    """The failure policy the run follows (``--retry-failed`` / ``--skip-failed``, else the setting)."""
    from astra.core.outcome import retry_failed

    return retry_failed(given)


def run_catalogue_array(args, function, model, keys, run_args, where, retry_failed, run_id, environment, jobs_dir,
                        cpus=1):
    """Submit (or print, ``--dry-run``) the job array of ``astra srun <task> <SpectrumModel>`` and follow it.

    :param args: the parsed arguments.
    :param function: the ``@task`` method.
    :param model: the catalogue model.
    :param keys: the ``spectrum_pk`` of the spectra to run.
    :param run_args: ``astra run`` options for every element.
    :param where: the run's ``--where``.
    :param retry_failed: the run's ``--retry-failed`` (true) / ``--skip-failed`` (false), or ``None``.
    :param run_id: the recorded submission (``None`` for ``--dry-run``).
    :param environment: variables the script exports.
    :param jobs_dir: the jobs directory.
    :param cpus: CPUs of each element (its Luigi workers).
    :returns: the exit status.
    """
    from astra import runs
    from astra.cli import UsageError
    from astra.cluster import slurm
    from astra.cluster.array_jobs import plan_catalogue_array

    try:
        job = plan_catalogue_array(
            keys, args.module, model.__name__, run_args, elements_asked(args), args.max_running,
            details={"where": where, "retry_failed": _retries(retry_failed)},
            time=args.time, mem=args.mem, gres=args.gres, partition=args.partition, account=args.account,
            workers_per_node=max(args.workers_per_node, cpus), output_dir=jobs_dir,
            job_name=args.job_name or f"astra-{function.name}", environment=environment,
        )
    except ValueError as exc:
        runs.finish_submission(run_id, [], error=exc)
        raise UsageError(str(exc)) from None
    if job.count < elements_asked(args):
        print(f"astra srun: {len(keys)} spectra for {elements_asked(args)} elements: {job.count} elements",
              file=sys.stderr)
    if args.dry_run:
        print(job.script, end="")
        return 0
    submitted = _now()
    try:
        job.job_id = slurm.submit(job.script, jobs_dir=jobs_dir, ledger={"array": job.ledger})
    except slurm.SlurmError as exc:
        runs.finish_submission(run_id, [], error=exc)
        print("astra srun: {}".format(exc), file=sys.stderr)
        return 1
    runs.finish_submission(run_id, [job.job_id])
    if args.no_wait:
        print(job.job_id, flush=True)
        return 0
    throttle = f", at most {args.max_running} at once" if args.max_running else ""
    header = (f"{function.name} over {model.__name__}: {len(keys)} spectra in {job.count} shares; "
              f"Slurm job array {job.job_id} of {job.count} elements{throttle}")
    return follow_shares(args, function, model.__name__, list(zip(job.shares, job.elements())), keys, where,
                         submitted, header, jobs_dir)


def _without_options(argv, names):
    """``argv`` without the options ``names`` and their values (``--limit 5`` and ``--limit=5``)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in names:
            skip = True
            continue
        if any(arg.startswith(name + "=") for name in names):
            continue
        out.append(arg)
    return out


def run_files_array(args):
    """``astra srun astra run module.Class --release R ...``: find the spectra, write one keys table
    per element, submit the array and print its job id (``--dry-run``: the script).

    :param args: the parsed arguments (``args.task_args`` are the ``astra run`` arguments).
    :returns: the exit status.
    """
    from astra import runs
    from astra.cli import UsageError, build_parser
    from astra.cluster import slurm
    from astra.cluster.array_jobs import plan_files_array
    from astra.commands import run as run_command
    from astra.datamodels.paths import sas_base_dir_set
    from astra.runner import find_rows

    command, extra = build_parser().parse_known_args(["run", *args.task_args])
    command._extra = extra
    if command.keys_table_per_process:
        raise UsageError("astra srun writes each element's keys table itself; drop --keys-table-per-process")
    task_class, filters, _ = run_command.check(command)
    try:
        with sas_base_dir_set(command.sas_base_dir):
            rows = find_rows(command.release, command.species, filters, command.keys_table, command.limit,
                             command.sas_base_dir)
    except ValueError as error:
        raise UsageError(str(error)) from None
    family = task_class.get_task_family()
    if not rows:
        print(f"astra srun: no spectra found ({command.keys_table or command.species + ' files of ' + command.release}); "
              "no job submitted", file=sys.stderr)
        return 1
    jobs_dir = args.jobs_dir or slurm.default_jobs_dir()
    run_id = None if args.dry_run else runs.record_submission(
        ["astra", "srun", "astra", "run", *args.task_args],
        {"task": f"astra run {command.task}", "arguments": list(args.task_args), "elements": elements_asked(args),
         "spectra": len(rows)},
    )
    environment = {runs.ENV_PARENT: str(run_id)} if run_id is not None else None
    run_args = _without_options(list(args.task_args)[1:] if args.task_args[:1] == [command.task] else
                                [a for a in args.task_args if a != command.task], ("--limit", "--keys-table"))
    try:
        job = plan_files_array(rows, command.task, run_args, elements_asked(args), jobs_dir,
                               args.job_name or f"astra-{family}", args.max_running, time=args.time, mem=args.mem,
                               gres=args.gres, partition=args.partition, account=args.account,
                               workers_per_node=args.workers_per_node, environment=environment)
    except ValueError as exc:
        runs.finish_submission(run_id, [], error=exc)
        raise UsageError(str(exc)) from None
    if args.dry_run:
        print(job.script, end="")
        return 0
    try:
        job.job_id = slurm.submit(job.script, jobs_dir=jobs_dir, ledger={"array": job.ledger})
    except slurm.SlurmError as exc:
        runs.finish_submission(run_id, [], error=exc)
        print("astra srun: {}".format(exc), file=sys.stderr)
        return 1
    runs.finish_submission(run_id, [job.job_id])
    print(job.job_id, flush=True)
    return 0


def resubmit_failed(args):
    """``astra srun --resubmit-failed <job>``: submit the elements of the array that did not complete.

    An element counts as failed when its latest attempt ended in any state but ``COMPLETED``
    (``FAILED``, ``CANCELLED``, ``TIMEOUT``, ...), or is unknown to Slurm (cancelled while pending).
    Each runs its own share again, exactly: the same script, so the same spectra.

    :param args: the parsed arguments (``resubmit_failed``, ``jobs_dir``, ``max_running``, ``no_wait``).
    :returns: 0 when nothing needed submitting or everything submitted completed, 1 otherwise.
    """
    from astra.cli import UsageError
    from astra.cluster import array_jobs, slurm

    jobs_dir = args.jobs_dir or slurm.default_jobs_dir()
    try:
        record = array_jobs.find_array(jobs_dir, args.resubmit_failed)
        latest = array_jobs.attempts(jobs_dir, record)
        failed, states = array_jobs.failed_elements(latest)
    except ValueError as error:
        raise UsageError(str(error)) from None
    except slurm.SlurmError as exc:
        print("astra srun: {}".format(exc), file=sys.stderr)
        return 1
    array = record["array"]
    if not failed:
        active = [name for name, state in states.items() if state.split()[0] in slurm.ACTIVE_STATES]
        print(f"job array {record['job_id']}: no element to submit again ({array['count'] - len(active)} completed"
              + (f", {len(active)} still pending or running" if active else "") + ")")
        return 0
    listing = ", ".join(f"{latest[i]} {states[latest[i]]}" for i in failed)
    if args.dry_run:
        print(f"job array {record['job_id']}: would submit again {len(failed)} element(s): {listing}")
        return 0
    submitted = _now()
    try:
        job_id = array_jobs.resubmit(jobs_dir, record, failed, max_running=args.max_running)
    except ValueError as error:
        raise UsageError(str(error)) from None
    except slurm.SlurmError as exc:
        print("astra srun: {}".format(exc), file=sys.stderr)
        return 1
    print(f"job array {record['job_id']}: submitted again {len(failed)} element(s) ({listing}) as job {job_id}",
          flush=True)
    if args.no_wait or array.get("form") != "catalogue":
        return 0
    return _follow_resubmission(args, record, failed, job_id, submitted, jobs_dir)


def _follow_resubmission(args, record, indices, job_id, submitted, jobs_dir):
    from astra.cluster.array_jobs import catalogue_shares
    from astra.cluster.slurm_arrays import element_id
    from astra.tasks.function_runner import load_task_function

    array = record["array"]
    function = load_task_function(array["task"])
    model = function.input_model(array["model"])
    shares = catalogue_shares(array)
    pairs = [(shares[i], element_id(job_id, i)) for i in indices]
    keys = set()
    for share, _ in pairs:  # every catalogue key of the ranges: the spectra shared out are among them
        query = model.select(model.spectrum_pk).where(model.spectrum_pk.between(share.lo, share.hi))
        keys.update(pk for (pk,) in query.tuples())
    header = (f"{function.name} over {model.__name__}: {sum(s.count for s, _ in pairs)} spectra in {len(pairs)} "
              f"shares of job array {record['job_id']}; submitted again as Slurm job array {job_id}")
    return follow_shares(args, function, model.__name__, pairs, keys, array.get("where"), submitted, header, jobs_dir)
