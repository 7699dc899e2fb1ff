"""``astra init``: create (or bring up to date) the results tables."""

NAME = "init"
HELP = "create the results database tables, adding new columns to existing ones"


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    parser.add_argument(
        "--database",
        metavar="URL",
        help="database URL (default: $ASTRA_DATABASE_URL, the database_url setting, or astra.db in output_dir)",
    )
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module to register its results models (repeatable; adds to result_modules)",
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help="only these models (names or dotted paths)")


def run(args):
    """Create or migrate the tables and print what was done.

    :param args: parsed arguments.
    :returns: exit status.
    """
    from astra.cli import UsageError
    from astra.database import DatabaseURLError, MigrationError, connect, get_model, redact_url
    from astra.database.migrations import create_tables, import_model_modules, registered_models

    try:
        db = connect(args.database)
        import_model_modules(args.module)
        models = [get_model(name) for name in args.models] if args.models else registered_models()
    except (DatabaseURLError, MigrationError, LookupError) as error:
        raise UsageError(str(error)) from None
    try:
        reports = create_tables(models, db=db)
    except MigrationError as error:
        raise UsageError(str(error)) from None
    print(f"results database: {redact_url(db.astra_url)}")
    for report in reports:
        print(f"  {report}")
    return 0
