"""``astra run``: run a task over the spectra found on disk (or listed in a table)."""

import os
import sys

NAME = "run"
ACCEPTS_EXTRA = True
HELP = "run a task over the spectra of a species found under SAS_BASE_DIR"

EPILOG = """
Other options are data-model keys that narrow the search (e.g. --telescope apo25m --field 120-45)
or parameters of the task (e.g. --min-good-pixels 50). Example:

  astra run astra.contrib.rocket.EstimateSNR --release dr13 --species apStar --limit 100
"""


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("task", help="the task class as module.Class")
    parser.add_argument("--release", required=True, help="data release, e.g. dr13")
    parser.add_argument("--species", default="apStar", help="sdss-access species (default apStar)")
    parser.add_argument("--keys-table", help="CSV or FITS table of data-model keys instead of a search")
    parser.add_argument("--limit", type=int, help="at most this many spectra")
    parser.add_argument("--workers", type=int, default=1, help="Luigi worker processes (default 1)")
    parser.add_argument("--max-batch-size", type=int, help="most spectra per batch (default: setting)")
    parser.add_argument("--sas-base-dir", help="the SAS root (default $SAS_BASE_DIR)")


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


def run(args):
    """Find, batch, run and summarise.

    :param args: parsed arguments (with ``_extra``, the unparsed ones).
    :returns: 0 exactly when every spectrum is done or was already complete; 1 otherwise.
    """
    from astra.cli import UsageError
    from astra.runner import load_task_class, run_over_files
    from astra.tasks.io.paths import get_template

    extra = split_extra(getattr(args, "_extra", []))
    try:
        task_class = load_task_class(args.task)
        template_keys = set(get_template(args.release, args.species).keys)
    except ValueError as error:
        raise UsageError(str(error)) from None
    filters = {k: v for k, v in extra.items() if k in template_keys}
    task_params = {k: v for k, v in extra.items() if k not in template_keys}
    try:
        n, summary = run_over_files(
            task_class,
            args.release,
            args.species,
            filters=filters,
            keys_table=args.keys_table,
            limit=args.limit,
            workers=args.workers,
            max_batch_size=args.max_batch_size,
            task_params=task_params,
            sas_base_dir=args.sas_base_dir,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not n:
        root = args.sas_base_dir or os.environ.get("SAS_BASE_DIR")
        where = args.keys_table or f"{args.species} files of {args.release} under {root or 'SAS_BASE_DIR, which is not set'}"
        if root and not args.keys_table and not os.path.isdir(root):
            where += ", which does not exist"
        print(f"no spectra found ({where})", file=sys.stderr)
        return 1
    print(f"{task_class.get_task_family()}: {n} spectra; {summary}")
    return 0 if summary.success else 1
