"""``astra run``: run a task over the spectra that need it.

Two forms, told apart by the second positional argument:

* ``astra run <task> <SpectrumModel> [--limit N] [--where EXPR] [--retry-failed]
  [--spectrum-pk-range LO HI ...] [--range-per-process] [task params]`` runs a ``@task`` method
  over the catalogue spectra without an up-to-date result (:mod:`astra.tasks.function_runner`);
* ``astra run module.Task --release R --species S [keys] [task params]`` runs a class-style
  task over the files found on disk (:mod:`astra.runner`).
"""

import os
import sys

from astra.runs import recorded_as

NAME = "run"
ACCEPTS_EXTRA = True
HELP = "run a task over the catalogue spectra that need it, or over the files of a species"

EPILOG = """
A @task method over the catalogue spectra without an up-to-date result:

  astra run snr ApogeeCoaddedSpectrumInApStar --limit 100 --where "release = 'dr17'"

Other options are the method's parameters (e.g. --min-good-pixels 50).
--spectrum-pk-range LO HI keeps the spectra with LO <= spectrum_pk <= HI (repeat it for
several ranges); with --range-per-process each process of a Slurm job step takes only the
range at its position ($ASTRA_SHARE_INDEX, else $SLURM_PROCID): astra srun <task> <Model>
writes such commands.

A class-style task over the files of a species found under SAS_BASE_DIR:

  astra run astra.contrib.rocket.EstimateSNR --release dr13 --species apStar --limit 100

Other options are data-model keys that narrow the search (e.g. --telescope apo25m --field 120-45)
or parameters of the task.

Both forms run under a central luigid with --scheduler-host/--scheduler-port (or the
scheduler_host/scheduler_port settings); one that cannot be reached is one line on stderr and
exit status 1.
"""


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    import argparse

    from astra.cli import positive_int

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("task", help="a @task method (registered name or module.function), or a task class as module.Class")
    parser.add_argument("model", nargs="?", help="the catalogue model a @task method reads, e.g. ApogeeVisitSpectrum")
    parser.add_argument("--where", help="with a catalogue model: an SQL condition on its columns")
    parser.add_argument("--retry-failed", action="store_const", const=True, default=None,
                        help="with a catalogue model: re-run failed spectra (the default: setting retry_failed)")
    parser.add_argument("--skip-failed", dest="retry_failed", action="store_const", const=False,
                        help="with a catalogue model: count failed spectra as done (leave them alone)")
    parser.add_argument("--spectrum-pk-range", nargs=2, type=int, action="append", metavar=("LO", "HI"),
                        help="with a catalogue model: only spectra with LO <= spectrum_pk <= HI (repeatable)")
    parser.add_argument("--range-per-process", action="store_true",
                        help="with several --spectrum-pk-range: this process takes only the range at "
                             "position $ASTRA_SHARE_INDEX, else $SLURM_PROCID (as astra srun writes)")
    parser.add_argument("--release", help="with a task class: data release, e.g. dr13")
    parser.add_argument("--species", default="apStar", help="sdss-access species (default apStar)")
    parser.add_argument("--keys-table", help="CSV or FITS table of data-model keys instead of a search")
    parser.add_argument("--keys-table-per-process", action="store_true",
                        help="--keys-table is a directory of tables <index>.csv: this process reads the one at "
                             "position $ASTRA_SHARE_INDEX, else $SLURM_PROCID (as astra srun's job arrays write)")
    parser.add_argument("--limit", type=positive_int, help="at most this many spectra (at least 1)")
    parser.add_argument("--workers", type=positive_int, default=1, help="Luigi worker processes (default 1)")
    parser.add_argument("--timeout", type=seconds, metavar="SECONDS",
                        help="stop a spectrum that runs longer and count it failed (default: the method's "
                             "timeout; 0: no limit)")
    parser.add_argument("--max-batch-size", type=positive_int, help="most spectra per batch (default: setting)")
    parser.add_argument("--sas-base-dir", help="the SAS root (default $SAS_BASE_DIR)")
    parser.add_argument("--scheduler-host", help="a central luigid's host (default: setting scheduler_host; "
                                                  "none: a local scheduler)")
    parser.add_argument("--scheduler-port", type=positive_int,
                        help="its port (default: setting scheduler_port, else 8082)")


def seconds(text):
    """``--timeout``'s value: seconds, a number >= 0 (argparse type)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds >= 0")
    return value


def split_extra(extra):
    """``--name value`` pairs (and ``--flag``) from the unparsed arguments.

    :param extra: the list of unparsed arguments.
    :returns: a dict of name (underscores) to text value.
    """
    from astra.cli import UsageError

    out, i = {}, 0
    while i < len(extra):
        arg = extra[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise UsageError(f"unexpected argument {arg!r}")
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 < len(extra) and not extra[i + 1].startswith("--"):
                value = extra[i + 1]
                i += 1
            else:
                value = "true"
        out[name.replace("-", "_")] = value
        i += 1
    return out


def print_results_location(task_class, args):
    """Say where the results went and how to find one star's among the hash-named outputs.

    :param task_class: the task class that ran.
    :param args: the parsed arguments of the run.
    """
    from astra.outputs import results_location

    location = results_location(task_class)
    if location:
        print(f"results: {location}")
        print(f"  one star's: astra find {args.task} --release {args.release} --obj <APOGEE_ID or name>")


def check(args):
    """Check the task, species and parameters without running anything (``astra srun`` too).

    :param args: parsed arguments (with ``_extra``, the unparsed ones).
    :returns: ``(task_class, filters, task_params)``; ``None`` for the catalogue form (a
        ``@task`` method and a model), whose method and parameters are checked.
    :raises astra.cli.UsageError: naming what is wrong, with the closest name when there is one.
    """
    from astra.cli import UsageError
    from astra.runner import load_task_class, parse_task_params
    from astra.datamodels.find import filter_values
    from astra.datamodels.paths import get_template

    extra = split_extra(getattr(args, "_extra", []))
    if getattr(args, "model", None):
        _check_function(args, extra)
        return None
    if not args.release:
        raise UsageError("give --release (a task class over files), or a catalogue model after the task name")
    if (getattr(args, "where", None) or getattr(args, "retry_failed", None) is not None
            or getattr(args, "spectrum_pk_range", None) or getattr(args, "range_per_process", False)):
        raise UsageError("--where, --retry-failed, --skip-failed, --spectrum-pk-range and --range-per-process need a "
                         "catalogue model after the task name")
    try:
        task_class = load_task_class(args.task)
        args.species = _species(args.release, args.species)
        template_keys = set(get_template(args.release, args.species).keys)
        filters = {k: v for k, v in extra.items() if k in template_keys}
        for name, value in filters.items():
            filter_values(name, value)
        task_params = {k: v for k, v in extra.items() if k not in template_keys}
        if getattr(args, "timeout", None) is not None:
            task_params["timeout"] = args.timeout
        parse_task_params(task_class, task_params)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return task_class, filters, task_params


@recorded_as("astra run")  # astra web lists the builds inside as runs of kind "astra run"
def run(args):
    """Find, batch, run and summarise.

    :param args: parsed arguments (with ``_extra``, the unparsed ones).
    :returns: 0 exactly when every spectrum is done or was already complete; 1 otherwise.
    """
    from astra.cli import UsageError
    from astra.outputs import results_location

    extra = split_extra(getattr(args, "_extra", []))
    if args.model:
        return _run_function(args, extra)  # needs nothing of the class-style runner
    from astra.commands.output_check import check_writable_directory
    from astra.runner import run_over_files
    task_class, filters, task_params = check(args)
    root = getattr(task_class, "_output_root", None)
    if callable(root) and results_location(task_class) == root().rstrip("/"):  # file outputs
        try:
            check_writable_directory(root())
        except ValueError as error:
            raise UsageError(str(error)) from None
    keys_table = _keys_table(args)
    try:
        n, summary = run_over_files(
            task_class,
            args.release,
            args.species,
            filters=filters,
            keys_table=keys_table,
            share_batches=not args.keys_table_per_process,
            limit=args.limit,
            workers=args.workers,
            max_batch_size=args.max_batch_size,
            task_params=task_params,
            sas_base_dir=args.sas_base_dir,
            scheduler_host=getattr(args, "scheduler_host", None),
            scheduler_port=getattr(args, "scheduler_port", None),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not n:
        root = args.sas_base_dir or os.environ.get("SAS_BASE_DIR")
        where = keys_table or f"{args.species} files of {args.release} under {root or 'SAS_BASE_DIR, which is not set'}"
        if root and not args.keys_table and not os.path.isdir(root):
            where += ", which is not a directory" if os.path.exists(root) else ", which does not exist"
        print(f"no spectra found ({where})", file=sys.stderr)
        return 1
    print(f"{task_class.get_task_family()}: {n} spectra; {summary}")
    _say_how_to_retry(summary)
    print_results_location(task_class, args)
    return 0 if summary.success else 1


def _say_how_to_retry(summary):
    """After a run with failed spectra: how many, where their reasons are, how to retry them."""
    failed = getattr(summary, "n_failed", 0)
    if failed:
        print(f"{failed} spectra failed: their reasons are on astra web's /failures page (and in the run log); "
              "running the same command again retries them")


def _keys_table(args):
    """The keys table this process reads: ``--keys-table``, or with ``--keys-table-per-process`` the
    ``<index>.csv`` of that directory at this process's position.

    :raises astra.cli.UsageError: for ``--keys-table-per-process`` without a directory, or without
        a table for this process.
    """
    from astra.cli import UsageError

    if not getattr(args, "keys_table_per_process", False):
        return args.keys_table
    if not args.keys_table or not os.path.isdir(args.keys_table):
        raise UsageError(f"--keys-table-per-process needs --keys-table to name a directory of <index>.csv "
                         f"tables, not {args.keys_table!r}")
    try:
        index = _process_index()
    except ValueError as error:
        raise UsageError(str(error)) from None
    path = os.path.join(args.keys_table, f"{index}.csv")
    if not os.path.exists(path):
        raise UsageError(f"--keys-table-per-process: no table {path} for process {index}")
    return path


def _species(release, species):
    """The sdss-access species: as given, else a data model's spelling (``apstar`` is ``apStar``).

    :raises ValueError: the release's error, with the closest species it has.
    """
    from astra import datamodels
    from astra.datamodels.paths import UnknownSpeciesError, get_template

    try:
        get_template(release, species)
        return species
    except UnknownSpeciesError as error:
        unknown = error
    try:
        return datamodels.get(species).name
    except ValueError:
        raise unknown from None


def _check_function(args, extra):
    """The catalogue form's method and parameters: ``(function, params)``, or a UsageError."""
    from astra.cli import UsageError
    from astra.tasks.function_runner import load_task_function, parse_task_params

    for option in ("release", "keys_table", "sas_base_dir"):
        if getattr(args, option, None):
            raise UsageError(f"--{option.replace('_', '-')} is for a task class over files, not a catalogue model")
    try:
        function = load_task_function(args.task)
        return function, parse_task_params(function, extra)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _run_function(args, extra):
    """``astra run <task> <SpectrumModel> ...``: the catalogue form."""
    from astra.cli import UsageError
    from astra.commands.empty_outcome import explain_empty
    from astra.database.where import count_where
    from astra.tasks.function_runner import run_pending

    function, params = _check_function(args, extra)
    ranges = _spectrum_pk_ranges(args)
    if ranges == []:
        print(f"{function.name}: nothing to do (no range for process {_process_index()} of this job step)")
        return 0
    try:
        model = function.input_model(args.model)
        if args.where:
            count_where(model, args.where)  # a bad --where is one line, before anything runs
        n, summary = run_pending(
            function,
            args.model,
            where=args.where,
            limit=args.limit,
            retry_failed=args.retry_failed,
            task_params=params,
            workers=args.workers,
            max_batch_size=args.max_batch_size,
            spectrum_pk_ranges=ranges,
            share_batches=not args.range_per_process,
            timeout=args.timeout,
            scheduler_host=getattr(args, "scheduler_host", None),
            scheduler_port=getattr(args, "scheduler_port", None),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    within = "".join(f" in spectrum_pk {lo}..{hi}" for lo, hi in ranges[:1]) if ranges else ""
    if ranges and len(ranges) > 1:
        within += f" (and {len(ranges) - 1} more ranges)"
    if not n:
        outcome = explain_empty(function, model, where=args.where, ranges=ranges)
        print(outcome, file=sys.stderr if outcome.to_stderr else sys.stdout)
        if outcome.exit_code == 0:
            _say_failures_left(function, args)
        return outcome.exit_code
    print(f"{function.name}: {n} spectra{within}; {summary}")
    _say_how_to_retry(summary)
    return 0 if summary.success else 1


def _say_failures_left(function, args):
    """Under ``--skip-failed`` (or ``retry_failed: false``): how many failed spectra were left alone."""
    from astra.core.outcome import retry_failed
    from astra.tasks.function_query import failed_spectra

    if retry_failed(args.retry_failed):
        return
    model = function.input_model(args.model)
    failed = failed_spectra(model, function, where=args.where)
    if failed:
        print(f"{failed} {args.model} spectra failed earlier and were left alone (--skip-failed or the setting "
              f"retry_failed: false): their reasons are on astra web's /failures page; "
              f"astra run {args.task} {args.model} --retry-failed runs them again")


def _process_index():
    from astra.cluster.shares import process_index

    return process_index()


def _spectrum_pk_ranges(args):
    """The ``(lo, hi)`` ranges this process runs: ``None`` for all spectra, ``[]`` for none.

    :raises astra.cli.UsageError: for a range with ``lo > hi``, or ``--range-per-process`` without
        ranges.
    """
    from astra.cli import UsageError
    from astra.cluster.shares import range_for_process

    ranges = [tuple(r) for r in (getattr(args, "spectrum_pk_range", None) or [])]
    for lo, hi in ranges:
        if lo > hi:
            raise UsageError(f"--spectrum-pk-range {lo} {hi}: LO must not be greater than HI")
    if not getattr(args, "range_per_process", False):
        return ranges or None
    if not ranges:
        raise UsageError("--range-per-process needs --spectrum-pk-range")
    try:
        picked = range_for_process(ranges)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return [picked] if picked is not None else []
