"""Removing the catalogue rows of files that are gone: ``astra migrate --forget-gone``.

A migration flags the row of a file it no longer finds (``bad_file_reason`` is
:data:`~astra.models.migrate.GONE_REASON`) and keeps it, so that a file that comes back is
read again and a mount that is briefly missing loses nothing. Such rows keep the migration's
exit status at 1. When the files are gone for good (a tutorial's tree in a temporary
directory, a retired data set), :func:`forget_gone` deletes those rows; results computed from
them stay in their results tables.
"""

from astra.database.connection import get_database, write_transaction
from astra.models.migrate import GONE_REASON, _typed_filters
from astra.models.spectrum import Spectrum

__all__ = ["forget_gone"]

#: Keys deleted per statement.
CHUNK = 900


def forget_gone(summary, db=None, **filters):
    """Delete the rows flagged gone of the migration ``summary`` describes.

    Only the rows of its release and data model (and ``filters``) whose file was not found are
    deleted, with their entries in the ``spectrum`` table. ``summary`` is updated: its gone rows
    no longer count against its exit status.

    :param summary: the :class:`~astra.models.migrate.MigrationSummary` of the migration just run.
    :param db: the database (default: the bound one).
    :param filters: the key filters the migration was given.
    :returns: how many rows were deleted.
    """
    db = db if db is not None else get_database()
    model = summary.model
    query = model.select(model.spectrum_pk).where(
        (model.release == summary.release) & (model.data_model == summary.data_model)
        & model.flag_bad_file & (model.bad_file_reason == GONE_REASON))
    for name, value in _typed_filters(model, filters).items():
        field = getattr(model, name)
        query = query.where(field.in_(list(value)) if isinstance(value, tuple) else field == value)
    with db.bind_ctx([model, Spectrum], bind_refs=False, bind_backrefs=False):
        keys = [row[0] for row in query.tuples()]
        with write_transaction(db):
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                model.delete().where(model.spectrum_pk.in_(chunk)).execute()
                Spectrum.delete().where(Spectrum.pk.in_(chunk)).execute()
    summary.gone, summary.gone_files = 0, []
    return len(keys)
