"""Bulk writes for the catalogue: primary keys handed out in blocks, inserts and updates in bulk.

peewee's ``insert_many`` builds one statement of ``rows x columns`` parameters (SQLite allows
32,766) and converts every value through the model; :func:`insert_rows` and
:func:`update_rows` send plain tuples through the driver's ``executemany`` (SQLite) or
``execute_values``/``execute_batch`` (psycopg2) instead, which is what lets ``astra migrate``
write tens of thousands of rows a second.

Call them inside a write transaction (:func:`astra.database.write_transaction`):
:func:`allocate_pks` relies on it, so that two processes never hand out the same key.
"""

import peewee

from astra.database.connection import get_database, is_postgresql

__all__ = ["allocate_pks", "insert_rows", "insert_tuples", "update_rows", "update_tuples", "select_in", "quoted_table", "lock_tables"]


def quoted_table(model, db):
    """The quoted (schema-qualified) table name of ``model``.

    :param model: a peewee model.
    :param db: the database.
    """
    quote = db.quote
    table = f"{quote[0]}{model._meta.table_name}{quote[1]}"
    if model._meta.schema:
        table = f"{quote[0]}{model._meta.schema}{quote[1]}.{table}"
    return table


def lock_tables(models, db=None):
    """Keep other writers out of ``models``' tables until the transaction ends (PostgreSQL).

    On SQLite a write transaction (``BEGIN IMMEDIATE``) already holds the only write lock, so
    nothing is done. Readers are never blocked.

    :param models: peewee models.
    :param db: the database (default: the bound one).
    """
    db = db if db is not None else get_database()
    if is_postgresql(db):
        tables = ", ".join(quoted_table(model, db) for model in models)
        with peewee.__exception_wrapper__:
            db.cursor().execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")


def allocate_pks(model, n, db=None):
    """``n`` unused primary keys of ``model``, consecutive, above every key in use.

    Inside a write transaction (SQLite's ``BEGIN IMMEDIATE`` holds the only write lock; on
    PostgreSQL the table is locked against writers until the transaction ends), so
    concurrent migrations never collide.

    :param model: a peewee model with an integer primary key.
    :param n: how many keys.
    :param db: the database (default: the bound one).
    :returns: a ``range`` of keys.
    """
    db = db if db is not None else get_database()
    table = quoted_table(model, db)
    column = model._meta.primary_key.column_name
    with peewee.__exception_wrapper__:
        cursor = db.cursor()
        if is_postgresql(db):
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        cursor.execute(f"SELECT COALESCE(MAX({db.quote[0]}{column}{db.quote[1]}), 0) FROM {table}")
        start = int(cursor.fetchone()[0]) + 1
    return range(start, start + n)


def _converters(model, names):
    """Each field's ``db_value``, in the order of ``names``."""
    return [model._meta.fields[name].db_value for name in names]


_PLAIN = (int, float, str)


def _tuples(rows, names, converters):
    """Rows as parameter tuples; only values that are not plain numbers or text are converted."""
    pairs = list(zip(names, converters))
    out = []
    for row in rows:
        values = []
        for name, convert in pairs:
            value = row.get(name)
            if value is not None and type(value) not in _PLAIN:
                value = convert(value)
            values.append(value)
        out.append(tuple(values))
    return out


def insert_rows(model, rows, db=None, page_size=2000):
    """Insert ``rows`` (dicts of field name to Python value) into ``model``'s table.

    Every row must have the same fields as the first (missing ones are written as NULL).

    :param model: a peewee model.
    :param rows: a list of dicts.
    :param db: the database (default: the bound one).
    :param page_size: rows per statement on PostgreSQL.
    :returns: the number of rows inserted.
    """
    if not rows:
        return 0
    names = list(rows[0])
    converters = _converters(model, names)
    return insert_tuples(model, names, _tuples(rows, names, converters), db, page_size)


def insert_tuples(model, names, params, db=None, page_size=2000):
    """Insert rows given as tuples of database values, in the order of the field ``names``.

    The values go to the driver as they are (numbers, text, ``None``, booleans): convert
    anything else with the field's ``db_value`` first (:func:`insert_rows` does).

    :param model: a peewee model.
    :param names: the field names, in the order of each tuple.
    :param params: a list of tuples.
    :param db: the database (default: the bound one).
    :param page_size: rows per statement on PostgreSQL.
    :returns: the number of rows inserted.
    """
    if not params:
        return 0
    db = db if db is not None else get_database()
    fields = [model._meta.fields[name] for name in names]
    columns = ", ".join(f"{db.quote[0]}{f.column_name}{db.quote[1]}" for f in fields)
    sql = f"INSERT INTO {quoted_table(model, db)} ({columns}) VALUES "
    with peewee.__exception_wrapper__:
        cursor = db.cursor()
        if is_postgresql(db):
            from psycopg2.extras import execute_values

            execute_values(cursor, sql + "%s", params, page_size=page_size)
        else:
            cursor.executemany(sql + "(" + ", ".join([db.param] * len(fields)) + ")", params)
    return len(params)


def update_rows(model, rows, db=None, page_size=1000):
    """Update rows of ``model`` by primary key: each dict holds the key and the new values.

    :param model: a peewee model.
    :param rows: a list of dicts with the same fields, including the primary key.
    :param db: the database (default: the bound one).
    :param page_size: statements per round trip on PostgreSQL.
    :returns: the number of rows given.
    """
    if not rows:
        return 0
    key = model._meta.primary_key.name
    names = [n for n in rows[0] if n != key] + [key]
    converters = _converters(model, names)
    return update_tuples(model, names, _tuples(rows, names, converters), db, page_size)


def update_tuples(model, names, params, db=None, page_size=1000):
    """Update rows by primary key, given as tuples of database values; the key comes last.

    :param model: a peewee model.
    :param names: the field names of each tuple, ending with the primary key's.
    :param params: a list of tuples (values as :func:`insert_tuples` takes them).
    :param db: the database (default: the bound one).
    :param page_size: statements per round trip on PostgreSQL.
    :returns: the number of rows given.
    """
    if not params:
        return 0
    db = db if db is not None else get_database()
    fields = [model._meta.fields[name] for name in names]
    q = db.quote
    sets = ", ".join(f"{q[0]}{f.column_name}{q[1]} = {db.param}" for f in fields[:-1])
    sql = f"UPDATE {quoted_table(model, db)} SET {sets} WHERE {q[0]}{fields[-1].column_name}{q[1]} = {db.param}"
    with peewee.__exception_wrapper__:
        cursor = db.cursor()
        if is_postgresql(db):
            from psycopg2.extras import execute_batch

            execute_batch(cursor, sql, params, page_size=page_size)
        else:
            cursor.executemany(sql, params)
    return len(params)


def select_in(model, columns, field, values, db=None, chunk=900):
    """``SELECT columns FROM model WHERE field IN values`` as tuples, in chunks, in plain SQL.

    For looking up thousands of keys at once without building a peewee expression per value.

    :param model: a peewee model.
    :param columns: the field names to select.
    :param field: the field name compared.
    :param values: the values (database values: numbers or text).
    :param db: the database (default: the bound one).
    :param chunk: values per statement (below SQLite's parameter limit).
    :returns: a list of tuples.
    """
    db = db if db is not None else get_database()
    q = db.quote
    names = ", ".join(f"{q[0]}{model._meta.fields[c].column_name}{q[1]}" for c in columns)
    compared = f"{q[0]}{model._meta.fields[field].column_name}{q[1]}"
    values = list(values)
    found = []
    with peewee.__exception_wrapper__:
        cursor = db.cursor()
        for start in range(0, len(values), chunk):
            part = values[start:start + chunk]
            marks = ", ".join([db.param] * len(part))
            cursor.execute(f"SELECT {names} FROM {quoted_table(model, db)} WHERE {compared} IN ({marks})", part)
            found.extend(cursor.fetchall())
    return found
