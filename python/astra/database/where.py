"""Checking a user's ``--where`` condition before anything runs.

A condition is SQL text on a table's columns (``"release = 'dr17'"``). A misspelt column
would otherwise surface as a long database traceback in the middle of a run;
:func:`count_where` asks the database once, up front, and turns its error into one line
that names the bad column and lists the valid ones.
"""

import re

import peewee

from astra.database.connection import get_database

__all__ = ["BadWhereError", "count_where", "bad_column"]

_PATTERNS = (
    re.compile(r"no such column: (?:\w+\.)?\"?(\w+)\"?"),      # SQLite
    re.compile(r"column \"?(?:\w+\.)?(\w+)\"? does not exist"),  # PostgreSQL
)


class BadWhereError(ValueError):
    """A ``--where`` condition the database refuses (a usage error).

    :ivar column: the unknown column, when the database named one.
    """

    def __init__(self, message, column=None):
        super().__init__(message)
        self.column = column


def bad_column(message):
    """The column a database error says does not exist, or ``None``.

    :param message: the database's error text.
    """
    for pattern in _PATTERNS:
        match = pattern.search(str(message))
        if match:
            return match.group(1)
    return None


def count_where(model, where, base=None, db=None):
    """How many rows of ``model`` meet ``where`` (and ``base``), asked once.

    :param model: a peewee model (a catalogue or results table).
    :param where: SQL text on its columns, e.g. ``"snr > 3"``.
    :param base: an optional peewee expression that narrows the rows too.
    :param db: the database (default: the bound one).
    :returns: the number of rows.
    :raises BadWhereError: in one line: the bad column (or the database's message) and the
        table's columns.
    """
    db = db if db is not None else get_database()
    query = model.select().where(peewee.SQL(f"({where})"))
    if base is not None:
        query = query.where(base)
    try:
        with db.bind_ctx([model], bind_refs=False, bind_backrefs=False), db.atomic():
            return query.count()
    except (peewee.OperationalError, peewee.ProgrammingError, peewee.DataError, peewee.IntegrityError) as error:
        columns = ", ".join(model._meta.sorted_field_names)
        column = bad_column(error)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        what = f"no column {column!r} in {model.__name__}" if column else f"the database refused it ({first})"
        raise BadWhereError(f"--where {where!r}: {what}; its columns: {columns}", column) from None
