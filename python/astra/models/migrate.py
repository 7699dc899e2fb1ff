"""Ingesting files into the catalogue, incrementally: the engine of ``astra migrate``.

:func:`migrate_files` finds the files of one data model in one release (with
:func:`astra.datamodels.find.scan_files`, or from a table of keys), compares each with what the
catalogue already knows, and writes only the difference:

* one query loads the ``(path, size, mtime)`` and the data-model keys of every row already
  known for the release, data model and key filters; a row is its keys, so a file found at
  another spelling of its path (paths are stored absolute; an older Astra stored them as given)
  updates its row instead of adding another;
* one :func:`os.scandir` walk lists the files with their size and modification time; a file
  whose size and mtime match its row is *unchanged* and is not opened;
* *new* and *changed* files are read (headers only; in worker processes when there are
  many), and written in large transactions with ``executemany``: a new file gets a row, a
  changed one has its row updated in place (same ``spectrum_pk``);
* a file that cannot be read gets a row all the same, flagged ``flag_bad_file`` with the
  reason; it never stops the migration;
* a file whose row an older reader made (``reader_version`` below the table's
  :attr:`~astra.models.spectrum.SpectrumMixin.READER_VERSION`, or none: a catalogue made before
  rows recorded it) is read again even though it is unchanged, and its row corrected in place
  (same ``spectrum_pk``; its source's position too): the summary counts them as *re-read*.

Every transaction is complete in itself, so an interrupted migration keeps what it wrote and
the next run carries on from there. ::

    from astra.models.migrate import migrate_files

    summary = migrate_files("dr13", "apStar", sas_base_dir="/data/sas", telescope="apo25m")
    print(summary)       # 4 files: 4 new, 0 changed, 0 unchanged, 0 bad
"""

import concurrent.futures
import contextlib
import multiprocessing
import os
import time

from astra.database.connection import get_database, is_postgresql, write_transaction
from astra.datamodels.find import FileScan, filter_values, read_keys_table
from astra.datamodels.paths import get_template, sas_root
from astra.models.bulk import allocate_pks, insert_tuples, lock_tables, select_in, update_tuples
from astra.models.fileinfo import BadKeyError, file_row, typed_keys
from astra.models.source import Source, resolve_sources
from astra.models.spectrum import Spectrum, model_for_data_model, spectrum_model, utcnow

__all__ = ["MigrationSummary", "migrate_files", "GONE_REASON"]

#: Files read per task handed to a worker process.
READ_CHUNK = 250
#: Rows written per transaction.
WRITE_CHUNK = 10000
#: Below this many files to read, no worker processes are started.
POOL_THRESHOLD = 1000
#: SQLite page cache (KiB) while a large migration writes (see :func:`_page_cache`).
SQLITE_CACHE_KIB = 131072
#: Bad files listed by name in the summary (all are in the catalogue).
LISTED = 20
#: The ``bad_file_reason`` of a row whose file was not found by a later migration.
GONE_REASON = "file not found: gone from disk since it was ingested"


class MigrationSummary:
    """What one migration found and did.

    :ivar model: the spectrum table.
    :ivar new: files seen for the first time and read (rows inserted).
    :ivar changed: files whose size or mtime changed, read again (rows updated).
    :ivar unchanged: files whose size and mtime match their row (not opened).
    :ivar bad: new or changed files that could not be read (rows flagged ``flag_bad_file``);
        not counted in :attr:`new` or :attr:`changed`.
    :ivar bad_new: how many of :attr:`bad` were new files.
    :ivar still_bad: unchanged files whose row is flagged bad from an earlier run.
    :ivar gone: rows whose file is no longer there (only when the files were searched): each
        is flagged bad with :data:`GONE_REASON` and read again if the file comes back.
    :ivar reread: unchanged files read again because an older reader made their row (counted
        in :attr:`changed`, or :attr:`bad` when they cannot be read).
    :ivar unresolved: keys-table rows that name no file: ``(row number, reason)``.
    :ivar bad_files: up to :data:`LISTED` ``(path, reason)`` of the bad files.
    :ivar still_bad_files: up to :data:`LISTED` ``(path, reason)`` of the still-bad ones.
    :ivar gone_files: up to :data:`LISTED` paths of the gone ones.
    :ivar seconds: wall time of the migration.
    """

    def __init__(self, model, release, data_model):
        self.model = model
        self.release = release
        self.data_model = data_model
        self.new = self.changed = self.unchanged = self.bad = self.bad_new = self.still_bad = self.gone = 0
        self.reread = 0
        self.unresolved = []
        self.bad_files = []
        self.still_bad_files = []
        self.gone_files = []
        self.seconds = 0.0

    @property
    def found(self):
        """Files found (new + changed + unchanged + bad)."""
        return self.new + self.changed + self.unchanged + self.bad

    @property
    def flagged(self):
        """Rows of the files searched for that are flagged bad now (bad + still bad + gone)."""
        return self.bad + self.still_bad + self.gone

    @property
    def exit_code(self):
        """0 when files were found and every one of them is in the catalogue, readable; else 1.

        As ``astra run`` exits 0 only when every spectrum has its result, a migration exits 0
        only when the catalogue holds a good row for every file searched for: any row flagged
        bad (read in this run, still bad from an earlier one, or gone), a keys-table row that
        names no file, or no file found at all makes it 1, on every run until it is fixed.
        """
        return 1 if self.flagged or self.unresolved or not self.found else 0

    def __str__(self):
        text = (
            f"{self.model.__name__} ({self.release} {self.data_model}): {self.found} files: "
            f"{self.new} new, {self.changed} changed, {self.unchanged} unchanged, {self.bad} bad"
        )
        if self.bad:
            text += f" ({self.bad_new} new, {self.bad - self.bad_new} changed; flagged)"
        if self.reread:
            text += f"; {self.reread} re-read (rows made by an older reader, corrected)"
        if self.still_bad:
            text += f"; {self.still_bad} unchanged files still flagged bad"
        if self.gone:
            text += f"; {self.gone} known files are gone (flagged)"
        if self.unresolved:
            text += f"; {len(self.unresolved)} keys-table rows name no file"
        return text

    def details(self):
        """Lines naming the bad files and unresolved keys rows (at most :data:`LISTED` each)."""
        lines = [f"bad: {path}: {reason}" for path, reason in self.bad_files]
        if self.bad > len(self.bad_files):
            lines.append(f"... and {self.bad - len(self.bad_files)} more bad files (flag_bad_file in the table)")
        lines += [f"keys row {n}: {reason}" for n, reason in self.unresolved[:LISTED]]
        if len(self.unresolved) > LISTED:
            lines.append(f"... and {len(self.unresolved) - LISTED} more keys rows")
        lines += [f"still bad: {path}: {reason}" for path, reason in self.still_bad_files]
        lines += [f"gone: {path}" for path in self.gone_files]
        if self.still_bad > len(self.still_bad_files) or self.gone > len(self.gone_files):
            name = self.model.__name__
            lines.append(f"... all flagged rows: {name}.select().where({name}.flag_bad_file), with bad_file_reason")
        return lines


def _known(model, release, data_model, filters, db, key_names=()):
    """The rows the run may touch: ``(by path, by keys)``.

    ``by path`` is ``path -> (spectrum_pk, size, mtime, flagged bad, gone, outdated)``
    (``outdated``: an older reader, or one that did not record its version, made the row);
    ``by keys`` is ``(value of each of key_names) -> path``: a row is its data model's keys,
    whatever the spelling of its path (a relative path written by an older Astra, the tree
    reached through another directory). One query, its rows fetched by the driver directly
    (no peewee object per row).
    """
    current = model.READER_VERSION
    key_fields = [getattr(model, name) for name in key_names]
    query = model.select(
        model.path, model.spectrum_pk, model.file_size, model.file_mtime, model.flag_bad_file,
        model.bad_file_reason == GONE_REASON, model.reader_version, *key_fields,
    ).where((model.release == release) & (model.data_model == data_model))
    for name, value in filters.items():
        field = getattr(model, name)
        query = query.where(field.in_(list(value)) if isinstance(value, tuple) else field == value)
    sql, params = query.sql()
    rows = db.execute_sql(sql, params).fetchall()
    by_path = {
        row[0]: (row[1], row[2], row[3], bool(row[4]), bool(row[5]), row[6] is None or row[6] < current)
        for row in rows
    }
    by_keys = {tuple(row[7:]): row[0] for row in rows} if key_names else {}
    return by_path, by_keys


def _key_tuple(model, key_names, keys):
    """The typed values of ``key_names`` in ``keys`` (text values from a path), or ``None``
    when one does not convert (the file then gets its bad-file row by its path)."""
    try:
        typed = typed_keys(model, keys)
    except BadKeyError:
        return None
    return tuple(typed.get(name) for name in key_names)


def _typed_filters(model, filters):
    typed = {}
    for name, value in filters.items():
        value = filter_values(name, value)
        if value is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        try:
            converted = tuple(typed_keys(model, {name: v})[name] for v in values)
        except BadKeyError as error:
            raise ValueError(f"filter {error}") from None
        typed[name] = converted if isinstance(value, tuple) else converted[0]
    return typed


def _from_keys_table(path, template, root, summary):
    seen = set()
    for number, row in enumerate(read_keys_table(path), 1):
        keys = {k: v for k, v in row.items() if k in template.keys and v not in (None, "")}
        try:
            file_path = template.full(keys, root)
        except (ValueError, KeyError) as error:
            summary.unresolved.append((number, str(error)))
            continue
        if file_path in seen:
            continue
        seen.add(file_path)
        try:
            st = os.stat(file_path)
        except OSError as error:
            summary.unresolved.append((number, f"{file_path}: {error.strerror or error}"))
            continue
        yield file_path, {k: str(v) for k, v in keys.items()}, st.st_size, st.st_mtime


def _read_chunk(task):
    model_name, data_model, release, items = task
    model = spectrum_model(model_name)
    return [file_row(model, data_model, release, *item) for item in items]


def _rows(model, data_model, release, todo, workers):
    """The rows of the files in ``todo``, chunk by chunk, read in worker processes if many."""
    name = f"{model.__module__}.{model.__name__}"
    tasks = [(name, data_model, release, todo[i:i + READ_CHUNK]) for i in range(0, len(todo), READ_CHUNK)]
    if workers > 1 and len(todo) >= POOL_THRESHOLD:
        from astra.processes import die_with_parent  # no reader outlives a killed migrate

        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent) as pool:
            yield from pool.map(_read_chunk, tasks)
    else:
        for task in tasks:
            yield _read_chunk(task)


def _rows_written_meanwhile(model, rows, known, db):
    """``path -> spectrum_pk`` of the rows another migration wrote since ``known`` was read."""
    paths = [row["path"] for row in rows if row["path"] not in known]
    return dict(select_in(model, ("path", "spectrum_pk"), "path", paths, db)) if paths else {}


def _file_columns(model):
    """The columns :func:`~astra.models.fileinfo.file_row` fills, in table order."""
    skip = ("spectrum_pk", "source", "ingested", "modified")
    return tuple(f.name for f in model._meta.sorted_fields if f.name not in skip)


def _now(model):
    """The current UTC time as the database value of the ``modified`` column."""
    return model._meta.fields["modified"].db_value(utcnow())


def _write(model, rows, known, db, moved=None):
    """Insert the rows of new files and update those of changed ones, in one transaction.

    A migration running at the same time may have written some of the "new" rows since this
    one looked: inside the transaction (which keeps other writers out) those are updated
    instead, so two migrations of one tree never collide. A file found at another path than
    its row's (``moved``: new path -> the row's path) updates that row. The values go to the
    driver as tuples, as :func:`~astra.models.fileinfo.file_row` made them (numbers, text,
    booleans, ``None``).
    """
    columns = _file_columns(model)
    now = _now(model)
    with write_transaction(db):
        lock_tables((Source, Spectrum, model), db)
        fresh = [row for row in rows if row["path"] not in (moved or {})]
        meanwhile = _rows_written_meanwhile(model, fresh, known, db)
        wanted = {}
        for row in rows:
            if row["_source"] is not None:
                wanted.setdefault(row["_source"], row["_source_position"])
        sources = resolve_sources(wanted, db) if wanted else {}
        _correct_positions(rows, known, sources, db)
        new, changed = [], []
        for row in rows:
            values = (*map(row.get, columns), sources.get(row["_source"]), now)
            before = known.get(row["path"]) or known.get((moved or {}).get(row["path"]))
            if before is not None:
                changed.append((*values, before[0]))
            elif row["path"] in meanwhile:
                changed.append((*values, meanwhile[row["path"]]))
            else:
                new.append(values)
        if new:
            pks = allocate_pks(Spectrum, len(new), db)
            insert_tuples(Spectrum, ("pk", "spectrum_type"), [(pk, model.__name__) for pk in pks], db)
            insert_tuples(model, (*columns, "source", "modified", "ingested", "spectrum_pk"),
                          [(*values, now, pk) for values, pk in zip(new, pks)], db)
        update_tuples(model, (*columns, "source", "modified", "spectrum_pk"), changed, db)


def _correct_positions(rows, known, sources, db):
    """Give the sources of rows an older reader made the position the current reader read.

    A source takes its position from the first spectrum ingested for it; when that spectrum's
    row was made by an older reader (BOSS rows once held the telescope's boresight), the
    source's position is corrected with the row's.
    """
    moved = {}
    for row in rows:
        before = known.get(row["path"])
        ra, dec = row["_source_position"]
        if before is not None and before[5] and row["_source"] is not None and ra is not None and dec is not None:
            moved[sources[row["_source"]]] = (ra, dec)
    if moved:
        update_tuples(Source, ("ra", "dec", "pk"), [(ra, dec, pk) for pk, (ra, dec) in moved.items()], db)


def _flag_gone(model, known, seen, db):
    """Flag the rows whose file the search did not find (once each).

    :returns: how many are gone, and the first :data:`LISTED` of their paths.
    """
    gone = sorted(known.keys() - seen)
    now = _now(model)
    fresh = [(True, GONE_REASON, now, known[path][0]) for path in gone if not known[path][4]]
    if fresh:
        with write_transaction(db):
            update_tuples(model, ("flag_bad_file", "bad_file_reason", "modified", "spectrum_pk"), fresh, db)
    return len(gone), gone[:LISTED]


def migrate_files(
    release,
    data_model,
    sas_base_dir=None,
    keys_table=None,
    workers=None,
    progress=False,
    db=None,
    dry_run=False,
    **filters,
):
    """Ingest the files of ``data_model`` in ``release`` into its catalogue table.

    :param release: e.g. ``"dr13"``.
    :param data_model: e.g. ``"apStar"`` (sdss-access species).
    :param sas_base_dir: the SAS root (default ``$SAS_BASE_DIR``).
    :param keys_table: a CSV or FITS table of keys naming the files, instead of a search.
    :param workers: processes that read files (default: the number of CPUs).
    :param progress: show a progress bar (tqdm) while files are read.
    :param db: the database (default: the bound one).
    :param dry_run: only count the new, changed, unchanged and gone files: nothing is read or
        written (not even an empty table is created), so a file that would be bad counts as
        new or changed, and gone rows are counted, not flagged.
    :param filters: key values that narrow the search (``telescope="apo25m"``; a list
        accepts any of its values).
    :returns: a :class:`MigrationSummary`.
    :raises ValueError: for an unknown release or data model, a key the data model does not
        have, or a filter value of the wrong type.
    :raises LookupError: when no catalogue table holds the data model.
    """
    started = time.perf_counter()
    model = model_for_data_model(data_model)
    template = get_template(release, data_model)
    release = template.release
    unknown = sorted(set(filters) - set(template.keys))
    if unknown:
        raise ValueError(f"{data_model} in {release} has no key {', '.join(unknown)} (keys: {', '.join(template.keys)})")
    if keys_table and filters:
        raise ValueError("give key filters or a keys table, not both")
    typed_filters = _typed_filters(model, filters)
    db = db if db is not None else get_database()
    summary = MigrationSummary(model, release, data_model)
    key_names = tuple(name for name in template.keys if name in model._meta.fields)
    if dry_run and not db.table_exists(model._meta.table_name):
        known, by_keys = {}, {}
    else:
        if not dry_run:
            model.ensure_tables(db)
        known, by_keys = _known(model, release, data_model, typed_filters, db, key_names)

    root = os.path.abspath(sas_root(sas_base_dir))  # rows hold absolute paths, wherever astra run starts
    if keys_table:
        found = _from_keys_table(keys_table, template, root, summary)
        keys_of = None
    else:
        scan = FileScan(release, data_model, sas_base_dir=root, **filters)
        found, keys_of = scan.files(), scan.keys
    todo, seen, moved = [], set(), {}
    for path, keys, size, mtime in found if keys_of is None else ((p, None, s, m) for p, s, m in found):
        before = known.get(path)
        if before is None and by_keys:  # its row may be known under another spelling of its path
            keys = keys if keys is not None else keys_of(path)
            if keys is None:
                continue
            known_path = by_keys.get(_key_tuple(model, key_names, keys))
            if known_path is not None and known_path != path and known_path not in seen:
                moved[path] = known_path
                seen.add(known_path)
        # A row flagged gone is read again when its file is back, whatever its size and mtime;
        # a row an older reader made is read again too (its values may be wrong).
        if before is not None and before[1] == size and before[2] == mtime and not before[4] and not before[5]:
            seen.add(path)
            summary.unchanged += 1
            if before[3]:
                summary.still_bad += 1
                if len(summary.still_bad_files) < LISTED:
                    summary.still_bad_files.append(path)
            continue
        if keys is None:
            keys = keys_of(path)
            if keys is None:  # matched the wildcards but is not a file of this data model
                continue
        seen.add(path)
        todo.append((path, keys, size, mtime))

    if summary.still_bad_files:
        reasons = dict(select_in(model, ("path", "bad_file_reason"), "path", summary.still_bad_files, db))
        summary.still_bad_files = [(path, reasons.get(path)) for path in summary.still_bad_files]
    if dry_run:  # nothing read: a file that would turn out bad is counted as new or changed
        summary.changed = sum(path in known or path in moved for path, *_ in todo)
        summary.new = len(todo) - summary.changed
        if not keys_table:
            gone = sorted(known.keys() - seen)
            summary.gone, summary.gone_files = len(gone), gone[:LISTED]
        summary.seconds = time.perf_counter() - started
        return summary
    workers = max(1, int(workers or os.cpu_count() or 1))
    buffer = []
    with _progress(len(todo), progress, f"{data_model} {release}") as bar, _page_cache(db, len(todo)):
        for rows in _rows(model, data_model, release, todo, workers):
            for row in rows:
                is_new = row["path"] not in known and row["path"] not in moved
                before = known.get(row["path"])
                if before is not None and before[5] and before[1] == row["file_size"] and before[2] == row["file_mtime"]:
                    summary.reread += 1
                if row["flag_bad_file"]:
                    summary.bad += 1
                    summary.bad_new += is_new
                    if len(summary.bad_files) < LISTED:
                        summary.bad_files.append((row["path"], row["bad_file_reason"]))
                elif is_new:
                    summary.new += 1
                else:
                    summary.changed += 1
            buffer.extend(rows)
            bar.update(len(rows))
            if len(buffer) >= WRITE_CHUNK:
                _write(model, buffer, known, db, moved)
                buffer = []
        if buffer:
            _write(model, buffer, known, db, moved)
    if not keys_table:
        summary.gone, summary.gone_files = _flag_gone(model, known, seen, db)
    summary.seconds = time.perf_counter() - started
    return summary


@contextlib.contextmanager
def _page_cache(db, files):
    """A larger SQLite page cache while many rows are written (their indexes then stay in it).

    SQLite's default of 2 MB holds the indexes of a few ten thousand rows; past that, each
    insert reads and writes index pages through the operating system. PostgreSQL: nothing.
    """
    if files < WRITE_CHUNK or is_postgresql(db):
        yield
        return
    before = db.execute_sql("PRAGMA cache_size").fetchone()[0]
    db.execute_sql(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA cache_size = {int(before)}")


def _progress(total, enabled, description):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled or not total, unit="file", desc=description, mininterval=0.5)
