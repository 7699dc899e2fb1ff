"""Claims: concurrent runs share the work instead of doing it twice.

Before a batch runs, the process running it *claims* it; another run that reaches the same
batch while the claim is live skips it, does its other batches, and comes back to it at the
end (by then the claimant has usually finished it, and there is nothing left to do). A claim
is **live** while its heartbeat is fresh -- a thread of the claimant refreshes it every
``claim_heartbeat`` seconds; it goes stale ``claim_expiry`` seconds after the last refresh --
and, when the claimant is on this host, while its process is alive (a SIGKILLed claimant on
this host is noticed at once). A stale claim is taken over; the temporary files its dead
writer left in the batch's output directories are removed then
(:func:`astra.targets.remove_dead_temporaries`).

No service is needed. Where a claim is kept follows from where the task's outputs go:

* **file outputs** -- a file ``<output_dir>/<Family>/claims/<identity hash>.claim`` (JSON:
  host, boot id, pid, process start time, a random token; the heartbeat is its mtime),
  created and taken over under an ``flock`` of ``claims/.lock``, so it works on a local disk
  and on a shared file system with working locks (NFSv4, Lustre, GPFS);
* **database outputs** (a class with a ``result_model``; a ``@task`` with results in the
  database) -- a row of the table ``astra_claim`` in the results database,
  taken with ``INSERT ... ON CONFLICT DO NOTHING`` and a compare-and-swap ``UPDATE`` of a
  stale row (SQLite and PostgreSQL).

The key is the batch's ``claim_key()`` (default: its identity), so runs that build the same
batches (the same command on the same spectra) coordinate; a ``@task``'s batches claim their
``spectrum_pk`` block instead, so runs that found different pending spectra still meet
(:meth:`astra.tasks.function_luigi.FunctionTask.claim_key`). Two runs that cut the same
spectra into different batches otherwise do not see each other's claims (each member's write
stays atomic, so nothing breaks: some spectra are computed twice). Under its claim a batch
asks again which members are incomplete (no answer kept from before the claim), so what a
finished or dead claimant wrote is not computed again. Heartbeats compare the clocks of different hosts: keep them in
sync (NTP) to well within ``claim_expiry``.

Settings: ``claims`` (true; false turns claims off), ``claim_heartbeat`` (seconds, 3),
``claim_expiry`` (seconds, 15).

Claims are taken by :func:`claimed_run`, which :class:`astra.tasks.BaseTask` wraps around
every task's ``run()``. A claimed batch's ``run()`` returns a generator that yields
:class:`ClaimReleased` (a Luigi dynamic dependency): Luigi runs the other batches first and
this one again once the claim is released or stale.
"""

import contextlib
import dataclasses
import fcntl
import functools
import json
import logging
import os
import threading
import time
import types
import uuid
import weakref

import luigi

import astra.config
from astra.core.outcome import note_incomplete
from astra.processes import ProcessIdentity, this_process

__all__ = [
    "ClaimRecord",
    "FileClaimStore",
    "DatabaseClaimStore",
    "Claim",
    "ClaimReleased",
    "store_for",
    "store_from_spec",
    "claimed_run",
    "claims_enabled",
    "heartbeat_interval",
    "expiry_seconds",
    "CLAIMS_DIRECTORY",
    "CLAIMS_TABLE",
]

logger = logging.getLogger("astra")

#: Directory (below a family's output directory) of the claim files.
CLAIMS_DIRECTORY = "claims"
#: The table of claims in the results database.
CLAIMS_TABLE = "astra_claim"


def claims_enabled():
    """The ``claims`` setting (default true)."""
    value = astra.config.get("claims", True)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


def heartbeat_interval():
    """Seconds between heartbeats of a held claim (setting ``claim_heartbeat``, default 3)."""
    return float(astra.config.get("claim_heartbeat", 3.0))


def expiry_seconds():
    """Seconds after its last heartbeat when a claim is stale (setting ``claim_expiry``, 15)."""
    return float(astra.config.get("claim_expiry", 15.0))


@dataclasses.dataclass
class ClaimRecord:
    """What a store knows of one claim.

    :param key: the claimed key (a batch's identity hash).
    :param token: random, new for every claim taken.
    :param owner: the claimant's :class:`~astra.processes.ProcessIdentity`.
    :param heartbeat: time of the last heartbeat (seconds since the epoch, claimant's clock).
    :param description: what was claimed (the task id), for messages.
    """

    key: str
    token: str
    owner: ProcessIdentity
    heartbeat: float
    description: str = ""

    @property
    def released(self):
        """Whether this is what a released claim leaves in a database (no holder)."""
        return not self.token

    def live(self, expiry=None, now=None):
        """Whether the claim still holds: fresh heartbeat and, on this host, a live claimant.

        :param expiry: seconds a heartbeat stays fresh (default :func:`expiry_seconds`).
        :param now: the current time (default :func:`time.time`).
        """
        if self.released:
            return False
        expiry = expiry_seconds() if expiry is None else expiry
        now = time.time() if now is None else now
        if now - self.heartbeat > expiry:
            return False
        return self.owner.alive() is not False

    def describe(self):
        """``pid 123 on host (heartbeat 2.1 s ago)``: for messages."""
        return f"{self.owner.describe()} (heartbeat {max(0.0, time.time() - self.heartbeat):.1f} s ago)"

    def as_dict(self):
        """The record as JSON-able values."""
        owner = self.owner
        return {
            "key": self.key, "token": self.token, "description": self.description,
            "host": owner.host, "boot": owner.boot, "pid": owner.pid, "started": owner.started,
            "heartbeat": self.heartbeat,
        }


def _record(values, heartbeat=None):
    owner = ProcessIdentity(values["host"], values.get("boot") or "", int(values["pid"]), values.get("started"))
    beat = float(values["heartbeat"] if heartbeat is None else heartbeat)
    return ClaimRecord(values["key"], values["token"], owner, beat, values.get("description") or "")


def _holds(other, record, expiry):
    """Whether claim ``other`` keeps ``record``'s process from taking the key."""
    if other.owner == record.owner:
        return False  # left by this very process (a run that could not release it): ours again
    return other.live(expiry)


# ---------------------------------------------------------------------------- file store


class FileClaimStore:
    """Claims kept as files in one directory (see the module documentation).

    :param directory: the claims directory (created when first needed).
    """

    def __init__(self, directory):
        self.directory = os.path.abspath(os.fspath(directory))

    @property
    def spec(self):
        """Text that :func:`store_from_spec` turns back into this store."""
        return f"file:{self.directory}"

    def path(self, key):
        """The claim file of ``key``."""
        return os.path.join(self.directory, f"{key}.claim")

    @contextlib.contextmanager
    def _locked(self):
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def holder(self, key):
        """The current claim of ``key`` (live or stale), or ``None``."""
        path = self.path(key)
        try:
            with open(path) as fp:
                values = json.load(fp)
            mtime = os.stat(path).st_mtime
        except (FileNotFoundError, ValueError):
            return None  # none, or one being replaced right now
        return _record(values, heartbeat=mtime)

    def _write(self, record):
        # Renamed into place (readers never see half a claim) but not fsync-ed: after a
        # machine crash every claim is stale anyway, and a flush would cost milliseconds.
        from astra.targets import _temporary_name

        path = self.path(record.key)
        temporary = _temporary_name(path)
        try:
            with open(temporary, "w") as fp:
                json.dump(record.as_dict(), fp)
            os.utime(temporary, (record.heartbeat, record.heartbeat))
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    def acquire(self, record, expiry=None):
        """Take the claim of ``record.key`` unless another live claim holds it.

        :param record: the new claim (this process's).
        :param expiry: seconds a heartbeat stays fresh.
        :returns: ``(taken, other)``: ``other`` is the live holder when not taken, the stale
            claim taken over when taken, else ``None``.
        """
        with self._locked():
            other = self.holder(record.key)
            if other is not None and _holds(other, record, expiry):
                return False, other
            record.heartbeat = time.time()
            self._write(record)
            return True, other

    def refresh(self, record):
        """Renew the heartbeat of a claim held by ``record``.

        :returns: whether the claim is still ``record``'s (false: it was taken over).
        """
        current = self.holder(record.key)
        if current is None or current.token != record.token:
            return False
        now = time.time()
        try:
            os.utime(self.path(record.key), (now, now))
        except FileNotFoundError:
            return False
        record.heartbeat = now
        return True

    def release(self, record):
        """Remove the claim if it still is ``record``'s."""
        with self._locked():
            current = self.holder(record.key)
            if current is not None and current.token == record.token:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path(record.key))


# ---------------------------------------------------------------------------- database store


_COLUMNS = ("key", "token", "description", "host", "boot", "pid", "started", "heartbeat")
#: Databases whose claims table exists, with the process that made sure (weak keys: the id of a
#: database object that is gone may be reused by a new one for another file).
_tables_ready = weakref.WeakKeyDictionary()
_tables_lock = threading.Lock()


class DatabaseClaimStore:
    """Claims kept in the table ``astra_claim`` of a database (SQLite or PostgreSQL).

    :param db: a peewee database; default: the results database (:func:`astra.database.connection.get_database`),
        looked up at each use so a store carried into a forked worker uses that worker's connection.
    """

    spec = "database"

    def __init__(self, db=None):
        self._db = db

    @property
    def db(self):
        """The database used now."""
        if self._db is not None:
            return self._db
        from astra.database.connection import get_database

        return get_database()

    def _execute(self, sql, params=()):
        return self.db.execute_sql(sql.replace("?", self.db.param), params)

    def ensure_table(self):
        """Create the claims table if it does not exist (once per process and database)."""
        db = self.db
        try:
            if _tables_ready.get(db) == os.getpid():
                return
        except TypeError:  # not weakly referable: ask each time
            pass
        import peewee

        with _tables_lock:
            try:
                db.execute_sql(
                    f"CREATE TABLE IF NOT EXISTS {CLAIMS_TABLE} (key TEXT PRIMARY KEY, token TEXT NOT NULL, "
                    "description TEXT, host TEXT NOT NULL, boot TEXT, pid INTEGER NOT NULL, started BIGINT, "
                    "heartbeat DOUBLE PRECISION NOT NULL)"
                )
            except peewee.DatabaseError:  # PostgreSQL: created by another process just now
                # (two CREATEs at once fail as a unique violation or "type ... already exists")
                if not db.table_exists(CLAIMS_TABLE):
                    raise
            try:
                _tables_ready[db] = os.getpid()
            except TypeError:
                pass

    def holder(self, key):
        """The current claim of ``key`` (live or stale), or ``None``."""
        self.ensure_table()
        row = self._execute(f"SELECT {', '.join(_COLUMNS)} FROM {CLAIMS_TABLE} WHERE key = ?", (key,)).fetchone()
        return None if row is None else _record(dict(zip(_COLUMNS, row)))

    def acquire(self, record, expiry=None):
        """Take the claim of ``record.key`` unless another live claim holds it.

        :param record: the new claim (this process's).
        :param expiry: seconds a heartbeat stays fresh.
        :returns: ``(taken, other)`` as :meth:`FileClaimStore.acquire`.
        """
        from astra.database.connection import write_transaction

        self.ensure_table()
        record.heartbeat = time.time()
        values = record.as_dict()
        placeholders = ", ".join("?" for _ in _COLUMNS)
        for _ in range(3):  # a claim released between our statements: try again
            with write_transaction(self.db):
                self._execute(
                    f"INSERT INTO {CLAIMS_TABLE} ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
                    "ON CONFLICT (key) DO NOTHING",
                    tuple(values[c] for c in _COLUMNS),
                )
                other = self.holder(record.key)
                if other is None:
                    continue
                if other.token == record.token:
                    return True, None
                if _holds(other, record, expiry):
                    return False, other
                # Stale: take it over unless another process took it first (compare-and-swap).
                sets = ", ".join(f"{c} = ?" for c in _COLUMNS if c != "key")
                cursor = self._execute(
                    f"UPDATE {CLAIMS_TABLE} SET {sets} WHERE key = ? AND token = ?",
                    tuple(values[c] for c in _COLUMNS if c != "key") + (record.key, other.token),
                )
                if cursor.rowcount == 1:
                    return True, other
        current = self.holder(record.key)
        return (current is not None and current.token == record.token), current

    def refresh(self, record):
        """Renew the heartbeat of a claim held by ``record``.

        :returns: whether the claim is still ``record``'s.
        """
        from astra.database.connection import write_transaction

        now = time.time()
        with write_transaction(self.db):
            cursor = self._execute(
                f"UPDATE {CLAIMS_TABLE} SET heartbeat = ? WHERE key = ? AND token = ?", (now, record.key, record.token)
            )
        if cursor.rowcount == 1:
            record.heartbeat = now
            return True
        return False

    def release(self, record):
        """Release the claim if it still is ``record``'s.

        The row stays, without a token: the next claimant then knows that someone worked on
        the batch since it last looked (see :func:`claimed_run`).
        """
        from astra.database.connection import write_transaction

        with write_transaction(self.db):
            self._execute(
                f"UPDATE {CLAIMS_TABLE} SET token = '', heartbeat = 0 WHERE key = ? AND token = ?",
                (record.key, record.token),
            )


def store_from_spec(spec):
    """The store named by a :attr:`FileClaimStore.spec` / :attr:`DatabaseClaimStore.spec`.

    :param spec: ``"file:<directory>"`` or ``"database"``.
    """
    if spec == "database":
        return DatabaseClaimStore()
    if spec.startswith("file:"):
        return FileClaimStore(spec[5:])
    raise ValueError(f"unknown claim store {spec!r}: expected 'file:<directory>' or 'database'")


def store_for(task):
    """Where the claims of ``task`` are kept: where its results go.

    The results database when they go there (a class with a ``result_model``, or a ``@task``
    with ``results_output: database``: then claims hold across hosts that share only the
    database), else the ``claims`` directory of its family's output directory.

    :param task: an :class:`astra.tasks.BaseTask`.
    """
    in_database = getattr(task, "results_in_database", None)
    if in_database() if callable(in_database) else getattr(task, "result_model", None) is not None:
        return DatabaseClaimStore()
    return FileClaimStore(os.path.join(task._output_root(), CLAIMS_DIRECTORY))


# ---------------------------------------------------------------------------- holding a claim

#: Claims held by this process, by (store spec, key): a nested run() of the same task
#: (a mixin's run calling super().run()) does not claim again.
_held = {}
_held_lock = threading.Lock()


class Claim:
    """A claim of one key in a store, held with a heartbeat thread until :meth:`release`.

    :param store: a :class:`FileClaimStore` or :class:`DatabaseClaimStore`.
    :param key: what to claim (a batch's identity hash).
    :param description: the task id, for messages.
    """

    def __init__(self, store, key, description=""):
        self.store = store
        self.key = key
        self.record = ClaimRecord(key, uuid.uuid4().hex, this_process(), time.time(), description)
        #: Whether this process holds the claim.
        self.acquired = False
        #: The live holder when not acquired; the stale claim taken over when acquired.
        self.other = None
        #: Set when the heartbeat found the claim taken over by another process.
        self.lost = False
        self._stop = threading.Event()
        self._thread = None

    def acquire(self):
        """Try to take the claim.

        :returns: whether it was taken (then a heartbeat thread keeps it live).
        """
        self.acquired, self.other = self.store.acquire(self.record, expiry_seconds())
        if self.acquired:
            with _held_lock:
                _held[(self.store.spec, self.key)] = self
            self._thread = threading.Thread(target=self._beat, name=f"astra-claim-{self.key[:12]}", daemon=True)
            self._thread.start()
        return self.acquired

    def _beat(self):
        interval = heartbeat_interval()
        try:
            while not self._stop.wait(interval):
                try:
                    if not self.store.refresh(self.record):
                        self.lost = True
                        logger.warning("claim of %s was taken over by another run", self.record.description)
                        return
                except Exception as error:  # a hiccup of the file system or database: try again
                    logger.warning("could not renew the claim of %s: %s", self.record.description, error)
        finally:
            if isinstance(self.store, DatabaseClaimStore):
                with contextlib.suppress(Exception):
                    self.store.db.close()  # this thread's own connection

    def release(self):
        """Stop the heartbeat and remove the claim (if it still is ours)."""
        if not self.acquired:
            return
        self.acquired = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with _held_lock:
            _held.pop((self.store.spec, self.key), None)
        try:
            self.store.release(self.record)
        except Exception as error:  # the claim then goes stale by itself
            logger.warning("could not release the claim of %s: %s", self.record.description, error)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False


class ClaimReleased(luigi.Task):
    """Complete when the claim ``token`` of ``key`` no longer holds; its ``run()`` waits for that.

    A batch that finds its claim held by another run yields this task (a dynamic
    dependency), so Luigi runs everything else first and the batch again afterwards.

    :param store: the store's spec (:func:`store_from_spec`).
    :param key: the claimed key.
    :param token: the token of the claim waited for.
    """

    store = luigi.Parameter()
    key = luigi.Parameter()
    token = luigi.Parameter()
    #: Run after every other pending task of the same priority.
    priority = -1000

    def _released(self):
        current = store_from_spec(self.store).holder(self.key)
        return current is None or current.token != self.token or not current.live()

    def complete(self):
        """Whether the claim waited for is released, taken over or stale."""
        return self._released()

    def run(self):
        """Wait until the claim is released or stale."""
        interval = max(0.2, min(heartbeat_interval(), 2.0))
        while not self._released():
            time.sleep(interval)


def _output_directories(task):
    from luigi.task import flatten

    directories = set()
    for member in task.get_batch_tasks():
        for target in flatten(member.output()):
            path = getattr(target, "path", None)
            if path:
                directories.add(os.path.dirname(os.path.abspath(path)))
    failures = getattr(task, "failures_directory", None)
    if failures is not None:
        directories.add(failures())
    return directories


def _clean_after(task, stale):
    from astra.targets import remove_dead_temporaries

    logger.info("%s: took over the stale claim of %s", task.task_id, stale.describe())
    removed = 0
    for directory in sorted(_output_directories(task)):
        removed += len(remove_dead_temporaries(directory))
    return removed


def _wait_then_run(task, claim):
    logger.info("%s is claimed by %s; running the other batches first", task.task_id, claim.other.describe())
    task.claimed_by = getattr(task, "claimed_by", []) + [claim.other.owner.describe()]
    note_incomplete(task)  # what the claimant completes meanwhile is counted as done by it
    yield ClaimReleased(store=claim.store.spec, key=claim.key, token=claim.other.token)
    result = task.run()  # claim it now, check again what is left, run that
    if isinstance(result, types.GeneratorType):
        yield from result


def _held_while(claim, generator):
    with contextlib.closing(generator):
        try:
            yield from generator
        finally:
            claim.release()


def claimed_run(run):
    """Wrap a task's ``run`` so that it runs only while its batch is claimed (see the module).

    :param run: a ``run(self)`` method.
    :returns: the wrapped method (marked, so it is not wrapped twice).
    """

    @functools.wraps(run)
    def wrapper(self):
        if not claims_enabled():
            return run(self)
        store = store_for(self)
        key = self.claim_key() if hasattr(self, "claim_key") else self.identity_hash
        if (store.spec, key) in _held:  # a nested run() of a task this process holds
            return run(self)
        claim = Claim(store, key, self.task_id)
        if not claim.acquire():
            return _wait_then_run(self, claim)
        try:
            if claim.other is not None and not claim.other.released:
                _clean_after(self, claim.other)
            # run() asks which members are incomplete now, under the claim (never an answer
            # kept from before it): what a dead or finished claimant wrote is not done again.
            result = run(self)
        except BaseException:
            claim.release()
            raise
        if isinstance(result, types.GeneratorType):
            return _held_while(claim, result)
        claim.release()
        return result

    wrapper._astra_claimed = True
    return wrapper


def claim_runs(cls):
    """Make ``cls.run`` a :func:`claimed_run` (called for every task class by ``BaseTask``).

    :param cls: a task class.
    """
    import inspect

    run = inspect.getattr_static(cls, "run", None)
    # Only plain methods: a ``run`` property (data-model files: None unless they download)
    # is left alone.
    if inspect.isfunction(run) and not getattr(run, "_astra_claimed", False):
        cls.run = claimed_run(run)
