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
arguments. Example:

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
    print(f"catalogue: {redact_url(db.astra_url)}")
    print(summary)
    for line in summary.details():
        print(f"  {line}", file=sys.stderr)
    if not summary.found and not summary.unresolved:
        print(f"no {args.species} files of {summary.release} found", file=sys.stderr)
    return summary.exit_code
