"""``astra create``: write the summary FITS table of a results table."""

from astra.database.models import DATA_MODEL_KEYS

NAME = "create"
HELP = "write a summary FITS table of a results model's rows"


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    parser.add_argument(
        "model",
        help="results model: a registered name (estimatesnr) or a dotted path "
        "(astra.database.examples.EstimateSNRResult)",
    )
    parser.add_argument("--output", "-o", metavar="PATH", help="output file (default: <output_dir>/products/...)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--where", metavar="SQL", help="extra SQL condition on the table's columns, e.g. 'snr > 10'")
    parser.add_argument(
        "--all-versions", action="store_true", help="include results of every Astra major.minor (default: this one)"
    )
    parser.add_argument("--database", metavar="URL", help="database URL (default: the configured one)")
    group = parser.add_argument_group("filters (repeat an option to accept several values)")
    for key in DATA_MODEL_KEYS:
        group.add_argument(f"--{key.replace('_', '-')}", dest=f"filter_{key}", action="append", metavar="VALUE")


def run(args):
    """Write the product and print its path and row count.

    :param args: parsed arguments.
    :returns: exit status.
    """
    import peewee

    from astra.cli import UsageError
    from astra.database import DatabaseURLError, connect, get_database, get_model
    from astra.products import create_summary

    try:
        model = get_model(args.model)
        db = connect(args.database) if args.database else get_database()
    except (DatabaseURLError, LookupError) as error:
        raise UsageError(str(error)) from None
    filters = {}
    for key in DATA_MODEL_KEYS:
        values = getattr(args, f"filter_{key}", None)
        if values:
            filters[key] = values
    try:
        path, count = create_summary(
            model, args.output, overwrite=args.overwrite, filters=filters, where=args.where,
            all_versions=args.all_versions, db=db,
        )
    except FileExistsError as error:
        raise UsageError(str(error)) from None
    except (ValueError, peewee.DatabaseError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UsageError(f"cannot create the {model.__name__} product: {first}") from None
    print(f"wrote {count} rows to {path}")
    return 0
