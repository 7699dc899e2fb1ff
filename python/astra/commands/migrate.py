"""``astra migrate``: ingest the files of a data model into the spectrum catalogue, incrementally."""

import sys

NAME = "migrate"
ACCEPTS_EXTRA = True
HELP = "ingest new and changed spectrum files into the catalogue (astra.models)"

EPILOG = """
Other options are data-model keys that narrow the search, e.g. --telescope apo25m --field 120-45
(a JSON list accepts any of its values: --field '["120-45", "N1333"]'). A second run adds only
new files and updates changed ones (by size and mtime). Files that cannot be read get a row
flagged bad, with the reason, and so do rows whose file is gone. Exit status: 0 when every
file looked for has a readable row; 1 while any of their rows is flagged bad (in this run or
an earlier one), when no file was found, or when a keys-table row names no file; 2 for bad
arguments. --forget-gone deletes the rows whose file is gone (for files removed for good, such
as a tutorial's tree in a temporary directory). Example:

  astra migrate --release dr13 --species apStar --sas-base-dir /data/sas --telescope apo25m
"""


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--release", required=True, help="data release, e.g. dr13")
    parser.add_argument("--species", required=True, help="data model (sdss-access species), e.g. apStar")
    parser.add_argument("--sas-base-dir", help="the SAS root (default $SAS_BASE_DIR)")
    parser.add_argument("--keys-table", help="CSV or FITS table of data-model keys instead of a search")
    parser.add_argument("--workers", type=int, help="processes reading files (default: the CPUs)")
    parser.add_argument("--forget-gone", action="store_true",
                        help="delete the rows of files that are gone from disk (instead of keeping them flagged)")
    parser.add_argument("--database", metavar="URL", help="database URL (default: $ASTRA_DATABASE_URL or the setting)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show a progress bar (default: when stderr is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args):
    """Migrate and print the summary.

    :param args: parsed arguments (with ``_extra``, the key filters).
    :returns: the summary's exit status.
    """
    from astra.cli import UsageError
    from astra.commands.run import split_extra
    from astra.database import DatabaseURLError, connect, redact_url
    from astra.models.migrate import migrate_files

    filters = split_extra(getattr(args, "_extra", []))
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.forget_gone and args.keys_table:
        raise UsageError("--forget-gone needs a search of the files, not --keys-table (which does not see gone files)")
    try:
        db = connect(args.database)
    except DatabaseURLError as error:
        raise UsageError(str(error)) from None
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        summary = migrate_files(
            args.release,
            args.species,
            sas_base_dir=args.sas_base_dir,
            keys_table=args.keys_table,
            workers=args.workers,
            progress=progress,
            db=db,
            **filters,
        )
    except (ValueError, LookupError) as error:
        raise UsageError(str(error)) from None
    forgotten = None
    if args.forget_gone:
        from astra.models.forget import forget_gone

        gone_files = list(summary.gone_files)
        forgotten = forget_gone(summary, db=db, **filters)
    print(f"catalogue: {redact_url(db.astra_url)}")
    print(summary)
    if forgotten is not None:
        print(f"forgot {forgotten} rows of files gone from disk"
              + (f" (e.g. {gone_files[0]})" if gone_files else ""))
    for line in summary.details():
        print(f"  {line}", file=sys.stderr)
    if summary.gone:
        print(f"  {summary.gone} rows name files that are gone; if they are gone for good, remove the rows: "
              f"astra migrate --release {args.release} --species {args.species} --forget-gone"
              + (f" --sas-base-dir {args.sas_base_dir}" if args.sas_base_dir else ""), file=sys.stderr)
    if not summary.found and not summary.unresolved:
        print(f"no {args.species} files of {summary.release} found {_where_searched(args)}", file=sys.stderr)
    return summary.exit_code


def _where_searched(args):
    """Where the files were looked for, and what is wrong with it (as ``astra run`` says)."""
    import os

    from astra.datamodels.paths import sas_root

    if args.keys_table:
        return f"from the keys table {args.keys_table}"
    if not args.sas_base_dir and not os.environ.get("SAS_BASE_DIR"):
        return (f"under {sas_root()}: SAS_BASE_DIR is not set; export SAS_BASE_DIR=/path/to/sas "
                "or give --sas-base-dir /path/to/sas")
    root = sas_root(args.sas_base_dir)
    if not os.path.exists(root):
        return f"under {root}, which does not exist"
    if not os.path.isdir(root):
        return f"under {root}, which is not a directory"
    return f"under {root}"
