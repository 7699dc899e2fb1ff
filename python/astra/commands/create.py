"""``astra create``: write a FITS product (named products, or a results table's summary)."""

import sys

from astra.database.models import DATA_MODEL_KEYS

NAME = "create"
HELP = "write a FITS product: astraAllStar<Method>, astraAllVisit<Method>, mwmAllStar, mwmAllVisit, or a results model's summary"


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    parser.add_argument(
        "product",
        help="astraAllStar<Method> or astraAllVisit<Method> (a method's results on star-level spectra, one row "
        "per source, or on visit spectra, e.g. astraAllStarRocketSNR), mwmAllStar or mwmAllVisit (the catalogue), or a results model: "
        "a registered name (estimatesnr) or a dotted path (astra.contrib.rocket.results.EstimateSNRResult)",
    )
    parser.add_argument(
        "method", nargs="?",
        help="after a bare astraAllStar or astraAllVisit: the method as a dotted path (mymethods.mean_snr)",
    )
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="output file (default: <output_dir>/products/[<release>/]<name>-<major>.<minor>.fits)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--where", metavar="SQL", help="extra SQL condition on the results' columns, e.g. 'snr > 10'")
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
    from astra.database import DatabaseURLError, connect, get_database
    from astra.products import create_product, resolve_product

    try:
        product = resolve_product(args.product, args.method)
        db = connect(args.database) if args.database else get_database()
    except (DatabaseURLError, LookupError) as error:
        raise UsageError(str(error)) from None
    filters = {}
    for key in DATA_MODEL_KEYS:
        values = getattr(args, f"filter_{key}", None)
        if values:
            filters[key] = values
    try:
        path, count = create_product(
            product, args.output, overwrite=args.overwrite, filters=filters, where=args.where,
            all_versions=args.all_versions, db=db,
        )
    except FileExistsError as error:
        raise UsageError(str(error)) from None
    except (ValueError, peewee.DatabaseError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        what = product.model.__name__ if product.kind == "summary" else product.name
        raise UsageError(f"cannot create the {what} product: {first}") from None
    print(f"wrote {count} rows to {path}")
    if not count:
        print(f"{product.name}: 0 rows: {_why_empty(product, filters, args, db)}", file=sys.stderr)
    return 0


def _why_empty(product, filters, args, db):
    """One line on why a product holds no row, and what fills it."""
    import peewee

    from astra.products.named import other_level_hint

    if product.kind == "method":
        hint = other_level_hint(product, filters=filters, where=args.where, all_versions=args.all_versions, db=db)
        if hint:
            return hint
    if product.kind == "catalogue":
        return (f"no {product.level}-level spectrum in the catalogue{' matches' if filters or args.where else ''}: "
                "run `astra migrate --release <release> --species <data model>` first")
    try:
        total = product.model.select().count()
    except peewee.DatabaseError:
        total = 0
    if not total:
        return (f"{product.model.__name__} has no results yet: run its method first "
                "(astra run <task> <SpectrumModel>, or astra srun)")
    level = f" on a {product.level}-level spectrum" if product.level else ""
    matching = " matching the filters" if filters or args.where else ""
    versions = "" if args.all_versions else f" of Astra {_major_minor()} (--all-versions takes every version)"
    return f"none of {product.model.__name__}'s {total} results is{level}{matching}{versions}"


def _major_minor():
    from astra.models.pipeline import major_minor

    return major_minor()
