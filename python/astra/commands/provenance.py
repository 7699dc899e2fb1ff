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
from astra.provenance.describe import format_provenance, product_rows, reproduce_command, select_rows

NAME = "provenance"
HELP = "print how a result was made (parameters, code, input file, host, run) and the command that reproduces it"


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    parser.add_argument("results", help="a results model (RocketSNR, rocket_snr, module.Class) or a FITS product")
    parser.add_argument("selection", help="a spectrum_pk, or column=value (e.g. task_pk=12)")


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


def spectrum_model_of(record, spectrum_pk):
    """The catalogue model (class name) holding ``spectrum_pk`` among those the record's
    ``@task`` method reads, or ``None``."""
    from astra.tasks.function_runner import load_task_function  # Luigi and the tasks: only when needed

    try:
        function = load_task_function(record["method"])
    except (ValueError, KeyError):
        return None
    for model in function.input_models:
        try:
            if model.select().where(model.spectrum_pk == int(spectrum_pk)).exists():
                return model.__name__
        except Exception:  # a catalogue table not in this database
            continue
    return function.input_models[0].__name__


def describe(rows, records):
    """The text for ``rows`` with their ``records`` (one block per row)."""
    blocks = []
    for row in rows:
        record = records.get(row.get("provenance_pk"))
        command = None
        if record is not None and record.get("kind") == "task" and row.get("spectrum_pk") is not None:
            command = reproduce_command(record, row, spectrum_model_of(record, row["spectrum_pk"]))
        blocks.append(format_provenance(row, record, command))
    return "\n\n".join(blocks)


def run(args):
    """Print the provenance of the selected rows.

    :returns: 0, or 1 when nothing matches.
    """
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
    print(describe(rows, records))
    return 0
