"""``astra provenance``: how a result was made, and the command that makes it again.

::

    astra provenance RocketSNR 7                 # the result of spectrum_pk 7
    astra provenance rocket_snr task_pk=12       # any column=value
    astra provenance out/astraAllStarRocketSNR.fits spectrum_pk=7   # an astra create product

For each row it prints the input file's facts (size, checksum, mtime), the provenance record
(the method's parameters, Astra's version, the method's module, package and version, the git
commit, digests of path parameters, host, run) and, for a ``@task`` result, the ``astra run``
command that recomputes that one result with the same parameters (docs/provenance.rst).
"""

import os
import sys

from astra.cli import UsageError
from astra.database import get_model
from astra.database.migrations import registered_models
from astra.provenance.describe import describe_rows, product_rows, select_rows

NAME = "provenance"
HELP = "print how a result was made (parameters, code, input file, host, run) and the command that reproduces it"


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    parser.add_argument("results", help="a results model (RocketSNR, rocket_snr, module.Class) or a FITS product")
    parser.add_argument("selection", nargs="?", default=None,
                        help="a spectrum_pk, or column=value (e.g. task_pk=12); not needed for one output file")


def find_model(name):
    """The results model named ``name``: a registered or dotted name, or a table name.

    :raises LookupError: naming the known models.
    """
    try:
        return get_model(name)
    except LookupError as error:
        for model in registered_models():
            if model._meta.table_name == name:
                return model
        raise error


def run(args):
    """Print the provenance of the selected rows.

    :returns: 0, or 1 when nothing matches.
    """
    if args.selection is None and not os.path.isfile(args.results):
        raise UsageError("give a spectrum_pk or column=value after the results model")
    try:
        if os.path.isfile(args.results):
            rows, records = product_rows(args.results, args.selection)
        else:
            rows, records = select_rows(find_model(args.results), args.selection)
    except (LookupError, ValueError) as error:
        raise UsageError(str(error)) from None
    if not rows:
        print(f"no row of {args.results} with {args.selection}", file=sys.stderr)
        return 1
    from astra.tasks.function_runner import catalogue_model_of  # Luigi and the tasks: only when needed

    print(describe_rows(rows, records, catalogue_model_of))
    return 0
