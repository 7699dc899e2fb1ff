"""``astra srun``: submit Slurm jobs that run Luigi workers for a task.

Usage::

    astra srun [srun options] <task> <SpectrumModel> [astra run options and method parameters...]
    astra srun [srun options] <module> <Task> [task parameters...] [srun options] [-- task parameters...]
    astra srun [srun options] astra <subcommand> [arguments...] [srun options] [-- arguments...]

The first form runs a ``@task`` method over the catalogue spectra that need it: the spectra
are found once, at submission, and split into disjoint ``spectrum_pk`` ranges (``--elements``,
default ``--jobs × --nodes × --procs``), submitted as one Slurm job array with one element per
range, at most ``--max-running`` at once (:mod:`astra.commands.srun_arrays`,
:mod:`astra.cluster.array_jobs`); with ``--job-steps``, as ``--jobs`` jobs of ``--nodes ×
--procs`` processes (:mod:`astra.cluster.spectrum_jobs`). The command then follows the jobs,
showing the results written per share, and prints the summary
(:mod:`astra.cluster.shares.progress`) unless ``--no-wait``. It is chosen when ``<SpectrumModel>``
names a catalogue table or ``<task>`` is a ``@task`` method. ``astra srun --resubmit-failed
<job>`` submits again, alone, the elements of an array that did not complete.

The second form runs ``luigi --module <module> <Task> ...`` on every node; the second runs an
``astra`` subcommand, e.g. ``astra srun --jobs 4 astra run astra.contrib.rocket.EstimateSNR
--release dr13``: each process finds, batches and runs the spectra itself and keeps only its
share of the batches.

Everything after ``<Task>`` that is not one of the options below is passed to the task
unchanged.  Task parameters that share a name with an ``astra srun`` option (``--time``,
``--nodes``, ...) must come after a ``--`` separator: everything after ``--`` belongs to
the task.  Options are matched by their full names only (no abbreviations).

Without ``--scheduler-host`` (and without ``[core] scheduler_host`` in ``luigi.cfg``),
each worker runs with ``--local-scheduler``. Several nodes or jobs then need the ``astra``
form: each ``astra run`` takes a disjoint share of the batches (``ASTRA_SHARE_*`` variables,
see :mod:`astra.cluster.shares`); the luigi form is refused, as every node would run the
whole task, unless ``--shares`` says the task itself keeps only its share (its ``requires()``
uses :func:`astra.cluster.select_share`).
"""

import argparse
import datetime
import sys

from astra.cluster.slurm import ASTRA_PROGRAM

NAME = "srun"
HELP = "submit Slurm jobs: a @task over the catalogue's spectra, or Luigi workers for a task (see docs/clusters.rst)"

_OPTIONS = (
    # (flags, keyword arguments); defined once, used by the main and the re-parsing parser
    (("--nodes",), dict(type=int, default=1, help="nodes per job; one worker process per node (default 1)")),
    (("--procs",), dict(type=int, default=1, help="<task> <SpectrumModel> form: processes per node, "
                                                  "each with its own spectrum_pk range (default 1)")),
    (("--jobs",), dict(type=int, default=1, help="number of separate jobs to submit (default 1)")),
    (("--time",), dict(default=None, help="Slurm --time limit, e.g. 02:00:00")),
    (("--mem",), dict(default=None, help="Slurm --mem per node, e.g. 4G")),
    (("--gres",), dict(default=None, help="Slurm --gres, e.g. gpu:1")),
    (("--partition",), dict(default=None, help="Slurm partition (default: the cluster's default)")),
    (("--account",), dict(default=None, help="Slurm account")),
    (("--workers-per-node",), dict(type=int, default=1, help="Luigi workers per node (default 1)")),
    (("--scheduler-host",), dict(default=None, help="luigid host (default: [core] scheduler_host "
                                                     "in luigi.cfg, else a local scheduler)")),
    (("--scheduler-port",), dict(type=int, default=None, help="luigid port (default 8082)")),
    (("--local-scheduler",), dict(action="store_true", default=False,
                                  help="run each worker with its own local scheduler")),
    (("--shares",), dict(action="store_true", default=False,
                         help="with a local scheduler and several nodes or jobs: the luigi task keeps "
                              "only its share (its requires() uses astra.cluster.select_share)")),
    (("--job-name",), dict(default=None, help="Slurm job name (default astra-<Task>)")),
    (("--jobs-dir",), dict(default=None, help="directory of job scripts, logs and the ledger "
                                              "(default $ASTRA_JOBS_DIR or <output_dir>/slurm-jobs)")),
    (("--dry-run",), dict(action="store_true", default=False,
                          help="print the job script(s) instead of submitting")),
    (("--no-wait",), dict(action="store_true", default=False,
                          help="<task> <SpectrumModel> form: print the job ids and return instead of "
                               "following the jobs to their summary")),
    (("--elements",), dict(type=int, default=None,
                           help="job array elements, one per share (default --jobs x --nodes x --procs); "
                                "for a @task over the catalogue and 'astra run' of a task class")),
    (("--max-running",), dict(type=int, default=None,
                              help="most job array elements running at once (Slurm's --array=0-(n-1)%%K; "
                                   "default no limit)")),
    (("--job-steps",), dict(action="store_true", default=False,
                            help="the earlier form instead of a job array: --jobs jobs, each running "
                                 "--nodes x --procs processes with srun")),
    (("--resubmit-failed",), dict(default=None, metavar="JOB",
                                  help="submit again, alone, the elements of job array JOB that did not "
                                       "complete (each runs its own share again)")),
    (("--poll-interval",), dict(type=float, default=1.0,
                                help="<task> <SpectrumModel> form: seconds between looks at the database "
                                     "and Slurm while following (default 1)")),
)


def add_arguments(parser):
    """Add the ``astra srun`` arguments to ``parser``.

    :param parser: an :class:`argparse.ArgumentParser` (the sub-command's parser).
    """
    parser.allow_abbrev = False
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.usage = ("astra srun [options] <task> <SpectrumModel> [astra run options, method parameters...]\n"
                    "       astra srun [options] <module> <Task> [task parameters...] [options] [-- task parameters...]\n"
                    "       astra srun [options] astra <subcommand> [arguments...] [options] [-- arguments...]")
    parser.epilog = (
        "With a @task method and a catalogue model (e.g. astra srun median_snr ApogeeVisitSpectrum\n"
        "--elements 8 --max-running 2), the spectra without a result are split at submission into\n"
        "disjoint spectrum_pk ranges, one per element of one Slurm job array (--job-steps: one per\n"
        "process of --jobs jobs of --nodes x --procs); the command follows them (results per share,\n"
        "Slurm states, once a second) and prints the summary; its exit status is 0 exactly when every\n"
        "spectrum has its result and every element completed. astra srun --resubmit-failed <job>\n"
        "submits again, alone, the elements that did not complete. --where, --retry-failed, --skip-failed, --limit,\n"
        "--workers, --max-batch-size, --timeout and the method's parameters are those of astra run.\n"
        "Everything after <Task> that is not an option above is passed to the task unchanged;\n"
        "task parameters named like an option (--time, --nodes, ...) go after --.\n"
        "With 'astra <subcommand>' instead of '<module> <Task>' every process runs that astra\n"
        "command (e.g. astra run ... over files) and keeps its own share of the batches;\n"
        "'astra run <task> <SpectrumModel>' is split at submission as above (without following).\n"
        "Without --scheduler-host (or [core] scheduler_host in luigi.cfg) every worker uses\n"
        "--local-scheduler; several nodes or jobs then need the 'astra run' form.\n"
        "Prints the submitted job ids, one per line (--dry-run prints the scripts).")
    for flags, kwargs in _OPTIONS:
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("module", nargs="?", help="a @task method (registered name or module.function), or the Python "
                                       "module that defines the task, e.g. astra.contrib.rocket (or 'astra' "
                                       "to run an astra subcommand)")
    parser.add_argument("task", nargs="?",
                        help="task family, e.g. EstimateSNR (or the astra subcommand, e.g. run), or the "
                             "catalogue model a @task method reads (default: the first it reads)")
    parser.add_argument("task_args", nargs=argparse.REMAINDER,
                        help="task parameters (put them after -- if a name clashes with an option)")


def split_task_args(args):
    """Separate ``astra srun`` options from the task's parameters in ``args.task_args``.

    Options after ``<Task>`` are moved onto ``args``; everything else (and everything
    after ``--``) stays, in order, in ``args.task_args``.

    :param args: the parsed :class:`argparse.Namespace`.
    :returns: ``args``, updated in place.
    """
    remainder = list(args.task_args or [])
    verbatim = []
    if "--" in remainder:
        index = remainder.index("--")
        remainder, verbatim = remainder[:index], remainder[index + 1:]
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for flags, kwargs in _OPTIONS:
        kwargs = dict(kwargs, default=argparse.SUPPRESS)
        parser.add_argument(*flags, **kwargs)
    options, task_args = parser.parse_known_args(remainder)
    for key, value in vars(options).items():
        setattr(args, key, value)
    args.task_args = task_args + verbatim
    return args


def _central_scheduler(args):
    """Return ``(host, port)`` of the central scheduler, or ``(None, None)`` for local.

    An ``astra <subcommand>`` job schedules its own batches: it never gets a host from
    ``luigi.cfg`` (an explicit ``--scheduler-host`` is an error, reported by the caller).
    """
    if args.local_scheduler or args.module == ASTRA_PROGRAM:
        return None, None
    host, port = args.scheduler_host, args.scheduler_port
    if host is None or port is None:
        import luigi.configuration

        config = luigi.configuration.get_config()
        host = host or config.get("core", "scheduler_host", None) or None
        if host is not None and port is None:
            port = config.getint("core", "scheduler_port", 8082)
    return host, port


def check_target(args):
    """Fail now, not in the queue: the module and task must import and the parameters parse.

    The luigi form imports ``args.module``, finds ``args.task`` and builds the task from its
    parameters (and ``luigi.cfg``), as each worker will. The astra form parses the subcommand's
    arguments and runs its ``check(args)`` when it has one (``astra run`` does). Errors are the
    ones ``astra run`` gives, with the closest name when there is one.

    :param args: the parsed :class:`argparse.Namespace` (after :func:`split_task_args`).
    :raises astra.cli.UsageError: naming what is wrong.
    """
    from astra.cli import UsageError

    if args.module == ASTRA_PROGRAM:
        from astra.cli import build_parser

        parser = build_parser()
        command, extra = parser.parse_known_args([args.task] + list(args.task_args))  # exits 2 on errors
        module = getattr(command, "_module", None)
        if extra and not getattr(module, "ACCEPTS_EXTRA", False):
            raise UsageError(f"astra {args.task}: unrecognized arguments: {' '.join(extra)}")
        command._extra = extra
        if hasattr(module, "check"):
            module.check(command)
        return
    _check_luigi_task(args.module, args.task, list(args.task_args))


def _check_luigi_task(module_name, family, task_args):
    import luigi
    import luigi.interface
    from astra.cli import UsageError
    from astra.commands.run import split_extra
    from astra.luigi_glue.registry import Register, TaskClassException
    from astra.runner import load_module, parse_task_params
    from astra.suggest import did_you_mean

    try:
        module = load_module(module_name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        task_class = Register.get_task_cls(family)
    except TaskClassException:
        families = [value.get_task_family() for value in vars(module).values()
                    if isinstance(value, type) and issubclass(value, luigi.Task)]
        raise UsageError(f"module {module_name!r} has no task {family!r}{did_you_mean(family, families)}") from None
    from astra.runner import refuse_removed

    try:
        refuse_removed(task_class)
    except ValueError as error:
        raise UsageError(str(error)) from None
    core = {name for name, _ in luigi.interface.core.get_params()}  # --workers, --log-level, ...
    params = {k: v for k, v in split_extra(task_args).items() if k not in core}
    try:
        task_class(**parse_task_params(task_class, params))
    except (ValueError, luigi.parameter.ParameterException) as error:
        raise UsageError(f"{family}: {error}" if family not in str(error) else str(error)) from None


def run(args):
    """Render (``--dry-run``) or submit the jobs and print their ids.

    :param args: the parsed :class:`argparse.Namespace`.
    :returns: exit status (0 on success, 1 when Slurm fails, 2 on bad arguments).
    """
    from astra.cli import UsageError
    from astra.cluster import slurm

    split_task_args(args)
    if args.nodes < 1 or args.jobs < 1 or args.workers_per_node < 1 or args.procs < 1:
        raise UsageError("--nodes, --jobs, --procs and --workers-per-node must be at least 1")
    if (args.elements is not None and args.elements < 1) or (args.max_running is not None and args.max_running < 1):
        raise UsageError("--elements and --max-running must be at least 1")
    if args.resubmit_failed:
        if args.module:
            raise UsageError("--resubmit-failed takes the job array's id only (the task is in its job script)")
        from astra.commands.srun_arrays import resubmit_failed

        return resubmit_failed(args)
    if args.module is None:
        raise UsageError("give the task to run (or --resubmit-failed <job>)")
    if args.job_steps and (args.elements is not None or args.max_running is not None):
        raise UsageError("--elements and --max-running are for job arrays; --job-steps submits --jobs jobs instead")
    if _astra_run_over_catalogue(args):
        # 'astra srun ... astra run <task> <Model>': the same split at submission (each process
        # finding its own share of a shrinking set of pending spectra could skip or repeat some),
        # and, as before, the job ids are printed without following the jobs.
        args.no_wait = True
    if catalogue_form(args):
        return _run_catalogue(args)
    if args.task is None:
        raise UsageError(f"give the task family after the module {args.module!r}, or name a @task method")
    if args.procs != 1 or args.no_wait:
        raise UsageError("--procs and --no-wait are for the form 'astra srun <task> <SpectrumModel>' "
                         "(a luigi task's worker processes: --nodes and --workers-per-node)")
    if args.module == ASTRA_PROGRAM and args.scheduler_host:
        raise UsageError("'astra {}' schedules its own batches; --scheduler-host applies to luigi "
                         "tasks only (set scheduler_host in Astra's configuration)".format(args.task))
    if args.module == ASTRA_PROGRAM and args.task == "run" and not args.job_steps:
        from astra.commands.srun_arrays import run_files_array

        return run_files_array(args)
    if args.elements is not None or args.max_running is not None:
        raise UsageError("--elements and --max-running are for job arrays: a @task over the catalogue, or "
                         "'astra run' of a task class")
    check_target(args)
    host, port = _central_scheduler(args)
    share_count = args.nodes * args.jobs
    if share_count > 1 and not host and args.module != ASTRA_PROGRAM and not args.shares:
        # A plain `luigi --module` process cannot take a share: every node would run it all.
        raise UsageError("several nodes or jobs without a central scheduler would each run the whole "
                         "task; give --scheduler-host (luigid), use the form 'astra srun ... astra run ...' "
                         "(which splits the batches), or --shares if the task keeps only its share")
    from astra import runs

    run_id = None if args.dry_run else runs.record_submission(  # recorded for astra web
        ["astra", "srun", args.module, args.task, *args.task_args],
        {"task": f"{args.module} {args.task}", "arguments": list(args.task_args), "nodes": args.nodes, "jobs": args.jobs},
    )
    environment = {runs.ENV_PARENT: str(run_id)} if run_id is not None else None
    scripts = []
    try:
        for job_index in range(args.jobs):
            share = None if host else (job_index * args.nodes, share_count)
            scripts.append(slurm.render_job_script(
                [args.module, args.task] + list(args.task_args), nodes=args.nodes, time=args.time,
                mem=args.mem, gres=args.gres, partition=args.partition, account=args.account,
                workers_per_node=args.workers_per_node, scheduler_host=host, scheduler_port=port,
                output_dir=args.jobs_dir or slurm.default_jobs_dir(), job_name=args.job_name,
                share=share if share_count > 1 else None, environment=environment,
            ))
    except ValueError as exc:
        runs.finish_submission(run_id, [], error=exc)
        raise UsageError(str(exc)) from None
    if args.dry_run:
        print("\n".join(scripts), end="")
        return 0
    job_ids = []
    try:
        for script in scripts:
            job_ids.append(slurm.submit(script, jobs_dir=args.jobs_dir))
            print(job_ids[-1], flush=True)
    except slurm.SlurmError as exc:
        runs.finish_submission(run_id, job_ids, error=exc)
        print("astra srun: {}".format(exc), file=sys.stderr)
        return 1
    runs.finish_submission(run_id, job_ids)
    return 0


# ------------------------------------------------------------- <task> <SpectrumModel>


def catalogue_form(args):
    """Whether the command is ``astra srun <task> <SpectrumModel>`` (a ``@task`` over the catalogue).

    True when the second name is a catalogue spectrum table (``ApogeeVisitSpectrum``, ...) or
    the first is a ``@task`` method (a registered name or ``module.function``; without a second
    name it runs over the first catalogue table the method reads).

    :param args: the parsed :class:`argparse.Namespace`.
    """
    if args.module == ASTRA_PROGRAM:
        return False
    from astra.models.spectrum import spectrum_model

    try:
        if args.task is not None and "." not in args.task:
            spectrum_model(args.task)
            return True
    except LookupError:
        pass
    from astra.tasks.function_runner import load_task_function

    try:
        load_task_function(args.module)
    except ValueError:
        return False
    return True


def _astra_run_over_catalogue(args):
    """Whether the command is ``astra srun ... astra run <task> <SpectrumModel> ...``; if so, ``args``
    is rewritten as ``astra srun <task> <SpectrumModel> ...``."""
    if args.module != ASTRA_PROGRAM or args.task != "run":
        return False
    from astra.cli import build_parser

    command, _ = build_parser().parse_known_args(["run", *args.task_args])
    if not command.model:
        return False
    rest = list(args.task_args)
    rest.remove(command.task)
    rest.remove(command.model)
    args.module, args.task, args.task_args = command.task, command.model, rest
    return True


def function_model(name):
    """The name of the first catalogue table the ``@task`` method ``name`` reads.

    :raises astra.cli.UsageError: if ``name`` is not a ``@task`` method.
    """
    from astra.cli import UsageError
    from astra.tasks.function_runner import load_task_function

    try:
        return load_task_function(name).input_model().__name__
    except ValueError as error:
        raise UsageError(str(error)) from None


def _run_arguments(args):
    """``astra run``'s parse of the catalogue form: ``(namespace, function, options for the jobs)``.

    The options for the jobs are every ``astra run`` option given except ``--limit`` (the
    submission applies it) and the method's parameters, as given.
    """
    from astra.cli import UsageError, build_parser
    from astra.commands import run as run_command

    model = [args.task] if args.task is not None else [function_model(args.module)]
    command, extra = build_parser().parse_known_args(["run", args.module, *model, *args.task_args])
    command._extra = extra
    if command.spectrum_pk_range or command.range_per_process:
        raise UsageError("astra srun gives each process its --spectrum-pk-range; narrow the spectra with --where")
    function, _ = run_command._check_function(command, run_command.split_extra(extra))
    options = ["--workers", str(command.workers)]
    if command.where:
        options += ["--where", command.where]
    if command.retry_failed is not None:
        options.append("--retry-failed" if command.retry_failed else "--skip-failed")
    if command.max_batch_size:
        options += ["--max-batch-size", str(command.max_batch_size)]
    if command.timeout is not None:
        options += ["--timeout", f"{command.timeout:g}"]
    return command, function, options + list(extra)


def _run_catalogue(args):
    """Find the spectra, split them, submit the jobs, follow them (unless ``--no-wait``)."""
    from astra import runs
    from astra.cli import UsageError
    from astra.cluster import slurm
    from astra.cluster.spectrum_jobs import plan_jobs
    from astra.commands.empty_outcome import explain_empty
    from astra.database.where import count_where
    from astra.commands.srun_arrays import follow_shares
    from astra.tasks.function_runner import pending_keys

    if args.scheduler_host or args.shares:
        raise UsageError("each process of 'astra srun <task> <SpectrumModel>' runs its own spectrum_pk range "
                         "with a local scheduler; --scheduler-host and --shares are for luigi tasks")
    if args.poll_interval <= 0:
        raise UsageError("--poll-interval must be greater than 0")
    command, function, run_args = _run_arguments(args)
    try:
        if command.where:
            count_where(function.input_model(command.model), command.where)  # one line, before any job
        model, keys = pending_keys(function, command.model, where=command.where, limit=command.limit,
                                   retry_failed=command.retry_failed)
    except ValueError as error:
        raise UsageError(str(error)) from None
    name = f"{function.name} over {model.__name__}"
    if not keys:
        outcome = explain_empty(function, model, where=command.where)
        print(f"{outcome}; no job submitted", file=sys.stderr if outcome.to_stderr else sys.stdout)
        return outcome.exit_code
    jobs_dir = args.jobs_dir or slurm.default_jobs_dir()
    run_id = None if args.dry_run else runs.record_submission(
        ["astra", "srun", args.module, *([args.task] if args.task else []), *args.task_args],
        {"task": f"{function.name} {model.__name__}", "arguments": list(args.task_args), "nodes": args.nodes,
         "procs": args.procs, "jobs": args.jobs, "spectra": len(keys)},
    )
    environment = {runs.ENV_PARENT: str(run_id)} if run_id is not None else None
    if not args.job_steps:
        from astra.commands.srun_arrays import run_catalogue_array

        return run_catalogue_array(args, function, model, keys, run_args, command.where, command.retry_failed,
                                   run_id, environment, jobs_dir, cpus=command.workers)
    try:
        shares, planned = plan_jobs(
            keys, args.module, model.__name__, run_args, jobs=args.jobs, nodes=args.nodes, procs=args.procs,
            time=args.time, mem=args.mem, gres=args.gres, partition=args.partition, account=args.account,
            workers_per_node=max(args.workers_per_node, command.workers), output_dir=jobs_dir,  # CPUs per process
            job_name=args.job_name or f"astra-{function.name}", environment=environment,
        )
    except ValueError as exc:
        runs.finish_submission(run_id, [], error=exc)
        raise UsageError(str(exc)) from None
    used = sum(len(job.shares) for job in planned)
    if used < len(shares):
        print(f"astra srun: {len(keys)} spectra for {len(shares)} processes: {used} processes get a share"
              + (f", {args.jobs - len(planned)} jobs are not needed" if len(planned) < args.jobs else ""),
              file=sys.stderr)
    if args.dry_run:
        print("".join(job.script for job in planned), end="")
        return 0
    submitted = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    try:
        for job in planned:
            job.job_id = slurm.submit(job.script, jobs_dir=jobs_dir)
            if args.no_wait:
                print(job.job_id, flush=True)
    except slurm.SlurmError as exc:
        runs.finish_submission(run_id, [job.job_id for job in planned if job.job_id], error=exc)
        print("astra srun: {}".format(exc), file=sys.stderr)
        return 1
    job_ids = [job.job_id for job in planned]
    runs.finish_submission(run_id, job_ids)
    if args.no_wait:
        return 0
    header = (f"{name}: {len(keys)} spectra in {used} shares; Slurm job{'s' if len(job_ids) > 1 else ''} "
              + " ".join(job_ids))
    return follow_shares(args, function, model.__name__, [(share, job.job_id) for job in planned for share in job.shares],
                         keys, command.where, submitted, header, jobs_dir)
