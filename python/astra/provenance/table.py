"""The ``astra_provenance`` table: one row per distinct provenance record, keyed by its digest.

Result rows reference a record by ``provenance_pk`` (a small integer), so a record is stored
once however many rows it made: one per method, parameter set, code, host and run. The table is
created on first use in any results database (SQLite or PostgreSQL).
"""

import datetime
import json
import threading
import weakref

import peewee

from astra.database.connection import database, get_database

__all__ = ["Provenance", "intern", "current_keys", "records_of", "ensure_provenance_table", "provenance_hdu_columns",
           "referenced_records"]

_ready = weakref.WeakKeyDictionary()  # database -> {digest: provenance_pk}
_lock = threading.Lock()


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Provenance(peewee.Model):
    """One distinct provenance record (see :mod:`astra.provenance.record`)."""

    provenance_pk = peewee.AutoField()
    digest = peewee.TextField(unique=True)
    method = peewee.TextField()  # no index: a few rows per method, scanned
    params_digest = peewee.TextField()
    code_digest = peewee.TextField()
    record = peewee.TextField()
    created = peewee.DateTimeField(default=_utcnow)

    class Meta:
        database = database
        table_name = "astra_provenance"

    @property
    def data(self):
        """The record as a dict."""
        return json.loads(self.record)


def ensure_provenance_table(db=None):
    """Create ``astra_provenance`` in ``db`` if it is missing (once per process and database).

    :param db: the database (default: the bound one).
    :returns: the per-database cache of digests to keys.
    """
    db = db if db is not None else get_database()
    cache = _ready.get(db)
    if cache is None:
        with _lock:
            cache = _ready.get(db)
            if cache is None:
                with db.bind_ctx([Provenance]):
                    try:
                        db.create_tables([Provenance], safe=True)
                    except peewee.DatabaseError:  # another process created it meanwhile (PostgreSQL)
                        if db.in_transaction():
                            db.rollback()
                        if not db.table_exists(Provenance._meta.table_name):
                            raise
                cache = _ready[db] = {}
    return cache


def intern(provenance, db=None):
    """The ``provenance_pk`` of a :class:`~astra.provenance.record.MethodProvenance`, stored if new.

    Safe when several processes store the same record at once (its digest is unique).

    :param provenance: the record.
    :param db: the database (default: the bound one).
    """
    db = db if db is not None else get_database()
    cache = ensure_provenance_table(db)
    found = cache.get(provenance.digest)
    if found is not None:
        return found
    with db.bind_ctx([Provenance]):
        row = Provenance.get_or_none(Provenance.digest == provenance.digest)
        if row is None:
            (Provenance.insert(digest=provenance.digest, method=provenance.method, params_digest=provenance.params_digest,
                               code_digest=provenance.code_digest, record=json.dumps(provenance.record, sort_keys=True))
             .on_conflict_ignore().execute())
            row = Provenance.get(Provenance.digest == provenance.digest)
    cache[provenance.digest] = row.provenance_pk
    return row.provenance_pk


def current_keys(method, params_digest, code_digest=None, db=None):
    """The ``provenance_pk`` of every record of ``method`` made with these parameters (and, when
    ``code_digest`` is given, this code): the results that reference one of them are current.

    :param method: the method's dotted name.
    :param params_digest: :func:`~astra.provenance.record.parameters_digest` of the parameters.
    :param code_digest: the code's digest, or ``None`` (any code).
    :param db: the database (default: the bound one).
    :returns: a sorted list of keys.
    """
    db = db if db is not None else get_database()
    ensure_provenance_table(db)
    with db.bind_ctx([Provenance]):
        query = Provenance.select(Provenance.provenance_pk).where(
            (Provenance.method == method) & (Provenance.params_digest == params_digest))
        if code_digest is not None:
            query = query.where(Provenance.code_digest == code_digest)
        return sorted(row[0] for row in query.tuples())


def records_of(keys, db=None):
    """The records of ``keys`` (``provenance_pk`` values): a dict of key to record dict.

    :param keys: provenance keys (``None`` values are skipped).
    :param db: the database (default: the bound one).
    """
    keys = sorted({int(k) for k in keys if k is not None})
    if not keys:
        return {}
    db = db if db is not None else get_database()
    ensure_provenance_table(db)
    out = {}
    with db.bind_ctx([Provenance]):
        for start in range(0, len(keys), 900):
            for row in Provenance.select().where(Provenance.provenance_pk.in_(keys[start:start + 900])):
                out[row.provenance_pk] = row.data
    return out


def referenced_records(values, db=None):
    """The records referenced by a product's ``provenance_pk`` column (for its ``PROVENANCE`` HDU).

    :param values: the column's values (an array; a null's stand-in matches no record).
    :param db: the database (default: the bound one).
    :returns: ``{provenance_pk: record}``.
    """
    keys = set()
    for value in values:
        try:
            keys.add(int(value))
        except (TypeError, ValueError):
            continue
    return records_of(keys, db=db)


def provenance_hdu_columns(records):
    """The columns of a ``PROVENANCE`` table HDU (files and ``astra create`` products): one row
    per record, ``PROVENANCE_PK`` and ``RECORD`` (the record as JSON).

    :param records: ``{provenance_pk: record dict}``.
    :returns: ``(name, field, values)`` columns for :class:`astra.products.fits_table.TableHDU`.
    """
    keys = sorted(records)
    return [("provenance_pk", Provenance.provenance_pk, keys),
            ("record", Provenance.record, [json.dumps(records[k], sort_keys=True) for k in keys])]
