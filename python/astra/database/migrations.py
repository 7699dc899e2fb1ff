"""Creating results tables and bringing existing ones up to date without losing data.

:func:`create_tables` (what ``astra init`` runs) creates the table of every registered results
model that does not exist yet, and for a table that exists adds the columns the model has
gained since (with peewee's :mod:`playhouse.migrate`), and the indexes it declares that the
table lacks. It never drops or changes a column: a column removed from a model stays in the
table (and is reported), its data kept.

A new column must be nullable or have a default, or existing rows could not hold it; every
result column is nullable by rule, so adding fields to a results model always migrates.

Columns Astra itself renamed are renamed in an existing table too, before anything else, in one
transaction (a model's ``__renamed_columns__``): a class-style table of an earlier version has
its ``t_process`` renamed ``t_elapsed``, and its ``t_setup`` (the batch's whole setup, on every
member's row) renamed ``t_overhead`` and divided among the rows that carry the same value (the
rows one batch wrote), the meaning :mod:`astra.database.models` gives it. Renaming or retyping
a column of one's own model is a manual step (see the database guide).
"""

import importlib
import logging
import threading
import weakref

import peewee
from playhouse.migrate import SchemaMigrator, migrate

import astra.config
from astra.database.connection import get_database
from astra.database.models import RESULT_MODELS, Result

__all__ = ["MigrationError", "TableReport", "ensure_table", "create_tables", "registered_models", "import_model_modules"]

logger = logging.getLogger("astra")

_ready = weakref.WeakKeyDictionary()  # database -> set of models checked
_ready_lock = threading.Lock()


class MigrationError(RuntimeError):
    """A table cannot be brought up to date automatically."""


class TableReport:
    """What :func:`ensure_table` did to one table.

    :param model: the results model.
    :param created: whether the table was created.
    :param added: names of the columns added.
    :param extra: columns in the table that the model no longer has (kept).
    :param indexes: names of the indexes created on the existing table (a model's new
        ``index=True``/``unique=True`` or ``Meta.indexes`` entry on a column it already had).
    :param renamed: ``(old, new)`` column names renamed (columns of an earlier Astra).
    """

    def __init__(self, model, created=False, added=(), extra=(), indexes=(), renamed=()):
        self.model = model
        self.created = created
        self.added = list(added)
        self.extra = list(extra)
        self.indexes = list(indexes)
        self.renamed = list(renamed)

    def __str__(self):
        table = self.model._meta.table_name
        if self.created:
            return f"{table}: created"
        done = []
        if self.renamed:
            done.append(f"renamed columns {', '.join(f'{old} to {new}' for old, new in self.renamed)}")
        if self.added:
            done.append(f"added columns {', '.join(self.added)}")
        if self.indexes:
            done.append(f"added indexes {', '.join(self.indexes)}")
        text = f"{table}: {'; '.join(done)}" if done else f"{table}: up to date"
        if self.extra:
            text += f" (kept columns no longer in {self.model.__name__}: {', '.join(self.extra)})"
        return text


def import_model_modules(modules=None):
    """Import the modules that define results models, so they are registered.

    :param modules: module names; default the ``result_modules`` setting plus
        :mod:`astra.contrib.rocket.results`.
    :raises MigrationError: naming a module that cannot be imported.
    """
    names = list(modules or [])
    configured = astra.config.get("result_modules") or []
    if isinstance(configured, str):
        configured = [m.strip() for m in configured.split(",") if m.strip()]
    for name in ["astra.contrib.rocket.results", *configured, *names]:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise MigrationError(f"cannot import results model module {name!r}: {error}") from None


def registered_models():
    """The distinct registered results models, in name order."""
    seen, models = set(), []
    for model in sorted(RESULT_MODELS.values(), key=lambda m: m.__name__):
        if model not in seen:
            seen.add(model)
            models.append(model)
    return models


def ensure_table(model, db=None, force=False):
    """Create ``model``'s table, or add the columns it lacks; once per process and database.

    Safe when several processes do it at once: a column or table another process just added
    is not an error.

    :param model: a results model (or a catalogue model).
    :param db: the database (default: the bound one).
    :param force: check again even if done before in this process.
    :returns: a :class:`TableReport`.
    """
    db = db if db is not None else get_database()
    if not force and model in _ready.get(db, ()):
        return TableReport(model)
    with _ready_lock:
        report = _ensure(model, db)
        _ready.setdefault(db, set()).add(model)
    for old, new in report.renamed:
        logger.info("%s: renamed column %s to %s", model._meta.table_name, old, new)
    for name in report.added:
        logger.info("%s: added column %s", model._meta.table_name, name)
    for name in report.indexes:
        logger.info("%s: added index %s", model._meta.table_name, name)
    return report


def _table_exists(model, db):
    return db.table_exists(model._meta.table_name, schema=model._meta.schema)


def _ensure(model, db):
    root = getattr(model, "schema_root", None)  # (catalogue models have none)
    if model is Result or (root is not None and root() is model):
        raise MigrationError(f"{model.__name__} is abstract; create the tables of its subclasses")
    with model.bind_ctx(db):
        if not _table_exists(model, db):
            try:
                db.create_tables([model], safe=True)
            except peewee.DatabaseError:  # another process created it meanwhile
                if not _table_exists(model, db):
                    raise
            else:
                return TableReport(model, created=True)
        renamed = _rename_old_columns(model, db)
        report = _add_missing_columns(model, db)
        report.renamed = renamed
        return report


def _columns(model, db):
    return {c.name for c in db.get_columns(model._meta.table_name, schema=model._meta.schema)}


def _rename_old_columns(model, db):
    """Rename the columns of an earlier Astra (``model.__renamed_columns__``) in one transaction.

    :returns: the ``(old, new)`` pairs renamed.
    :raises MigrationError: naming the table when a rename fails and no other process did it.
    """
    renames = getattr(model, "__renamed_columns__", ())
    existing = _columns(model, db)
    todo = [(old, new, how) for old, new, how in renames if old in existing and new not in existing]
    if not todo:
        return []
    table = model._meta.table_name

    def quote(name):
        return db.get_sql_context().sql(peewee.Entity(name)).query()[0]

    quoted = quote(table) if model._meta.schema is None else f"{quote(model._meta.schema)}.{quote(table)}"
    try:
        with db.atomic():
            for old, new, how in todo:
                db.execute_sql(f"ALTER TABLE {quoted} RENAME COLUMN {quote(old)} TO {quote(new)}")
                if how == "shared":
                    _share_among_rows(db, quoted, quote(new))
    except peewee.DatabaseError as error:
        again = _columns(model, db)
        if any(old in again or new not in again for old, new, _ in todo):
            raise MigrationError(f"{table}: cannot rename the columns of an earlier Astra "
                                 f"({', '.join(f'{o} to {n}' for o, n, _ in todo)}): {error}") from None
        return []  # another process renamed them meanwhile
    return [(old, new) for old, new, _ in todo]


def _share_among_rows(db, table, column):
    """Divide each value of ``column`` by the number of rows that hold it (one batch's rows).

    One grouped pass (``UPDATE ... FROM``: PostgreSQL, SQLite 3.33+), not a query per row.
    """
    db.execute_sql(
        f"UPDATE {table} SET {column} = {column} / shared.n FROM "
        f"(SELECT {column} AS value, COUNT(*) AS n FROM {table} WHERE {column} IS NOT NULL GROUP BY {column}) AS shared "
        f"WHERE {table}.{column} = shared.value AND shared.n > 1"
    )


def _add_missing_columns(model, db):
    table = model._meta.table_name
    existing = {c.name for c in db.get_columns(table, schema=model._meta.schema)}
    missing = [f for f in model._meta.sorted_fields if f.column_name not in existing]
    extra = sorted(existing - {f.column_name for f in model._meta.sorted_fields})
    added = []
    for field in missing:
        if not field.null and field.default is None:
            raise MigrationError(
                f"{table}: column {field.column_name} is NOT NULL without a default, so existing rows "
                f"cannot hold it; make {model.__name__}.{field.name} nullable"
            )
        migrator = SchemaMigrator.from_database(db)
        try:
            migrate(migrator.add_column(table, field.column_name, field))
        except peewee.DatabaseError as error:
            again = {c.name for c in db.get_columns(table, schema=model._meta.schema)}
            if field.column_name not in again:
                raise MigrationError(f"{table}: cannot add column {field.column_name}: {error}") from None
        added.append(field.column_name)
    return TableReport(model, added=added, extra=extra, indexes=_add_missing_indexes(model, db))


def _index_key(columns, unique):
    return tuple(str(c).lower() for c in columns), bool(unique)


def _add_missing_indexes(model, db):
    """Create the indexes the model declares that the existing table lacks; their names.

    An index is there when the table has one on the same columns in the same order (a unique
    one serves for a plain one), whatever its name.

    :raises MigrationError: when a unique index cannot be built because existing rows repeat
        a value (the rows are kept; the table stays without the index).
    """
    table, schema = model._meta.table_name, model._meta.schema
    existing = {_index_key(i.columns, i.unique) for i in db.get_indexes(table, schema=schema)}
    created = []
    for index in model._meta.fields_to_index():
        columns = [e.column_name for e in index._expressions if isinstance(e, peewee.Field)]
        if len(columns) != len(index._expressions):
            continue  # an expression index: not compared, left to the user
        if _index_key(columns, True) in existing or _index_key(columns, index._unique) in existing:
            continue
        try:
            with db.atomic():
                db.execute(model._schema._create_index(index, safe=True))
        except peewee.DatabaseError as error:
            again = {_index_key(i.columns, i.unique) for i in db.get_indexes(table, schema=schema)}
            if _index_key(columns, True) in again or _index_key(columns, index._unique) in again:
                continue  # another process made it meanwhile (PostgreSQL says so with an error)
            if isinstance(error, peewee.IntegrityError) and index._unique:
                raise MigrationError(
                    f"{table}: cannot add unique index {index._name}: existing rows repeat its values ({error})"
                ) from None
            raise MigrationError(f"{table}: cannot add index {index._name}: {error}") from None
        created.append(index._name)
    return created


def create_tables(models=None, db=None):
    """Create or update the tables of ``models`` (what ``astra init`` does).

    :param models: results models; default every registered one.
    :param db: the database (default: the bound one).
    :returns: a list of :class:`TableReport`.
    """
    if models is None:
        import_model_modules()
        models = registered_models()
    return [ensure_table(model, db=db, force=True) for model in models]


def forget_tables():
    """Forget which tables this process has checked (after dropping or resetting a database)."""
    with _ready_lock:
        _ready.clear()
