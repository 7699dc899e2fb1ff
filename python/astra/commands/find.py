"""``astra find``: where the results of given spectra are (output names are identity hashes)."""

import sys

NAME = "find"
ACCEPTS_EXTRA = True
HELP = "print where a task's results for given spectra are, e.g. --obj 2M00452143+1634446"

EPILOG = """
Other options are data-model keys that select the spectra (e.g. --obj 2M00452143+1634446, or a
JSON list of values) and parameters of the task, exactly as for 'astra run'. The spectra are
found under SAS_BASE_DIR (or listed with --keys-table); each one's task is built from its keys
and its output is printed with its state: done or missing. Example:

  astra find astra.contrib.rocket.EstimateSNR --release dr13 --obj 2M00452143+1634446
"""


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    import argparse

    from astra.cli import positive_int

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("task", help="the task class as module.Class")
    parser.add_argument("--release", required=True, help="data release, e.g. dr13")
    parser.add_argument("--species", default="apStar", help="sdss-access species (default apStar)")
    parser.add_argument("--keys-table", help="CSV or FITS table of data-model keys instead of a search")
    parser.add_argument("--limit", type=positive_int, help="at most this many spectra")
    parser.add_argument("--sas-base-dir", help="the SAS root (default $SAS_BASE_DIR)")
    parser.add_argument("--missing", action="store_true", help="print only the spectra without results")


def run(args):
    """Print one line per spectrum: its state, its output, its keys.

    :param args: parsed arguments (with ``_extra``, the unparsed ones).
    :returns: 0 when every spectrum found has its results, 1 when some have none or none were found.
    """
    from astra.cli import UsageError
    from astra.commands.run import check
    from astra.outputs import describe_target, member_outputs, results_location
    from astra.runner import find_tasks

    task_class, filters, task_params = check(args)
    try:
        n, tasks = find_tasks(task_class, args.release, args.species, filters=filters, keys_table=args.keys_table,
                              limit=args.limit, task_params=task_params, sas_base_dir=args.sas_base_dir)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not n:
        print(f"no {args.species} files of {args.release} match", file=sys.stderr)
        return 1
    missing = 0
    for task in tasks:
        for member, targets in member_outputs(task):
            done = all(target.exists() for target in targets)
            missing += not done
            if done and args.missing:
                continue
            keys = " ".join(f"{name}={member.param_kwargs[name]}" for name in ("obj", "field", "telescope", "mjd",
                            "plate", "fiber", "healpix") if member.param_kwargs.get(name) is not None)
            for target in targets:
                print(f"{'done' if done else 'missing'}\t{describe_target(target)}\t{keys}")
    print(f"{n - missing} of {n} spectra have results ({results_location(task_class)})", file=sys.stderr)
    return 1 if missing else 0
