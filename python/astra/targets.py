"""File targets that are written atomically and durably.

A file target is complete when its file exists. Everything written here goes first to a hidden
temporary file in the same directory and is renamed into place only when writing finished
without an exception, so an exception or a killed process never leaves a partial output (and
the task is not complete).

Why not Luigi's own ``LocalTarget.open("w")`` (``luigi.local_target.atomic_file``)? In Luigi 3.8
it does not rename after an exception either, but its ``__exit__`` then returns without closing:
the temporary file (``<name>-luigi-tmp-<random>``, not hidden) stays open and on disk until the
handle is garbage-collected, which a traceback kept for the failure report can delay. Here the
temporary file is closed and removed as the exception leaves the block, its name carries
:data:`TEMPORARY_MARKER` so searches skip it, and a plain target skips Luigi's format (pipe
writer) machinery, which costs time when a run creates a million targets.

**Durability** (setting ``output_fsync``): a rename is atomic, but after a crash of the
machine (power loss, kernel panic) a file renamed just before may exist with its data not yet
on disk: empty or partial. With ``output_fsync: file`` (the default) the temporary file is
``fsync``-ed before the rename, so an output that exists after a crash is complete. With
``directory``, the directory is also ``fsync``-ed after the rename, so an output that was
reported written is still there after a crash (without it, a crash may lose the last renames:
those outputs are simply computed again). ``none`` skips both (outputs on tmpfs, or scratch
data). See docs/configuration.rst for the measured cost.

**Temporary files** are named ``.<name>.astra-tmp-<host>-<boot>-<pid>-<n>``: the writer's
host, the first 8 characters of its kernel boot id, its pid and a counter.
:func:`remove_dead_temporaries` removes those whose writer is dead -- on this host, when that
pid is not running or the host rebooted since; from another host (or without a writer in the
name), only when the file has not been modified for ``temporary_file_expiry`` seconds (default
a day), since a process on another host cannot be asked. A live writer's file is never removed.
"""

import contextlib
import itertools
import logging
import os
import socket
import time

import luigi

import astra.config
from astra.processes import boot_id, pid_alive

__all__ = [
    "AtomicFileTarget",
    "atomic_path",
    "atomic_open",
    "first_input_path",
    "TEMPORARY_MARKER",
    "is_temporary",
    "temporary_name",
    "temporary_writer",
    "remove_dead_temporaries",
    "fsync_mode",
]

logger = logging.getLogger("astra")

#: Part of the name of every temporary file; files containing it are never outputs.
TEMPORARY_MARKER = ".astra-tmp-"
#: Values of the ``output_fsync`` setting.
FSYNC_MODES = ("none", "file", "directory")
#: Default of the ``temporary_file_expiry`` setting (seconds).
DEFAULT_TEMPORARY_EXPIRY = 86400.0


def is_temporary(name):
    """Whether a file name is one of our in-progress temporary files."""
    return TEMPORARY_MARKER in name


_counter = itertools.count()
_writer_tag = None


def _tag():
    # host-boot-pid, cached per process (forgotten in a forked child, which has another pid).
    global _writer_tag
    if _writer_tag is None:
        pid = os.getpid()
        _writer_tag = f"{socket.gethostname()}-{boot_id()[:8] or 'noboot'}-{pid}"
    return _writer_tag


def _forget_tag():
    global _writer_tag
    _writer_tag = None


os.register_at_fork(after_in_child=_forget_tag)


def temporary_name(path):
    """A new temporary name for writing ``path`` atomically: hidden, in the same directory.

    Unique among hosts and processes (host, boot, pid) and within one (a counter); it holds
    :data:`TEMPORARY_MARKER`, so it is never taken for an output, and names its writer
    (:func:`temporary_writer`), so :func:`remove_dead_temporaries` knows when it is left over.

    :param path: the final path.
    """
    if not path.startswith(os.sep):
        path = os.path.abspath(path)
    directory, _, name = path.rpartition(os.sep)
    return f"{directory}{os.sep}.{name}{TEMPORARY_MARKER}{_tag()}-{next(_counter)}"


def temporary_writer(name):
    """The writer named in a temporary file's name.

    :param name: a file name (or path).
    :returns: ``(host, boot, pid)``, or ``None`` for a name without a writer (not ours, or
        written by an older Astra that put only the pid in it).
    """
    name = os.path.basename(name)
    _, marker, rest = name.rpartition(TEMPORARY_MARKER)
    if not marker:
        return None
    parts = rest.rsplit("-", 3)
    if len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def _writer_dead(name, mtime, now, expiry):
    writer = temporary_writer(name)
    if writer is not None and writer[0] == socket.gethostname():
        host, boot, pid = writer
        if boot != (boot_id()[:8] or "noboot"):
            return True  # written before this host rebooted
        return not pid_alive(pid)
    return now - mtime > expiry  # another host's writer (or none named): by age only


def remove_dead_temporaries(directory, name=None, expiry=None):
    """Remove the temporary files in ``directory`` whose writers are dead.

    :param directory: a directory (a missing one has nothing to remove).
    :param name: only the temporary files of this output name (e.g. ``"spec-1.fits"``).
    :param expiry: seconds without modification after which a temporary file of another
        host's writer is removed (default: setting ``temporary_file_expiry``, a day).
    :returns: the paths removed.
    """
    if expiry is None:
        expiry = float(astra.config.get("temporary_file_expiry", DEFAULT_TEMPORARY_EXPIRY))
    prefix = f".{name}{TEMPORARY_MARKER}" if name else None
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if TEMPORARY_MARKER not in entry.name or (prefix and not entry.name.startswith(prefix)):
            continue
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:  # renamed or removed by its writer meanwhile
            continue
        if _writer_dead(entry.name, mtime, now, expiry):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(entry.path)
    if removed:
        logger.info("removed %d temporary file(s) of dead writers in %s", len(removed), directory)
    return removed


def fsync_mode():
    """The ``output_fsync`` setting: ``"none"``, ``"file"`` (default) or ``"directory"``.

    :raises ValueError: naming the setting when its value is not one of those.
    """
    global _fsync_known
    given = astra.config.get("output_fsync", "file")
    known = _fsync_known
    if known is not None and known[0] is given:
        return known[1]
    mode = _fsync_mode(given)
    _fsync_known = (given, mode)  # asked once per output: kept while the setting is the same object
    return mode


_fsync_known = None


def _fsync_mode(mode):
    if mode is None or mode is False:
        return "none"
    if mode is True:
        return "file"
    mode = str(mode).strip().lower()
    if mode not in FSYNC_MODES:
        raise ValueError(f"setting output_fsync must be one of {', '.join(FSYNC_MODES)}; got {mode!r}")
    return mode


def _fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(path):
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(temporary, path, mode, fp=None):
    """Rename ``temporary`` to ``path`` with the durability of ``mode`` (see the module doc)."""
    if mode != "none" and fp is None:
        _fsync_path(temporary)
    os.replace(temporary, path)
    if mode == "directory":
        _fsync_directory(path)


def _close_durably(fp, mode):
    """Close ``fp``, first flushing its data to disk unless ``mode`` is ``"none"``."""
    try:
        if mode != "none":
            fp.flush()
            os.fsync(fp.fileno())
    finally:
        fp.close()


def _open_making_directory(temporary, mode, **kwargs):
    """Open ``temporary`` (in the output's directory), making the directory on the first file in it.

    The directory is made with one ``mkdir`` when its parent exists (the usual case in the
    fanned-out output tree: the second level of a new first level), else with ``makedirs``.
    """
    try:
        return open(temporary, mode, **kwargs)
    except FileNotFoundError:  # first file in a new directory
        directory = os.path.dirname(temporary) or "."
        try:
            os.mkdir(directory)
        except FileExistsError:  # made meanwhile by another writer
            pass
        except FileNotFoundError:  # its parent is missing too
            os.makedirs(directory, exist_ok=True)
        return open(temporary, mode, **kwargs)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Use it for writers that want a file name (``astropy.io.fits.HDUList.writeto``)::

        with atomic_path(target.path) as tmp:
            hdulist.writeto(tmp)

    :param path: the final path. Missing parent directories are created.
    """
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = temporary_name(path)
    mode = fsync_mode()
    try:
        yield temporary
        if not os.path.exists(temporary):
            raise FileNotFoundError(f"nothing was written to the temporary file for {path}")
        _replace(temporary, path, mode)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """Open ``path`` for writing atomically; the file appears only if the block succeeds.

    :param path: the final path.
    :param mode: ``"w"`` or ``"wb"``.
    :param kwargs: passed to :func:`open` (``encoding``, ...).
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_open writes only; mode {mode!r} is not 'w' or 'wb'")
    path = os.fspath(path)
    temporary = temporary_name(path)
    durability = fsync_mode()
    fp = _open_making_directory(temporary, mode, **kwargs)
    try:
        try:
            yield fp
        except BaseException:
            fp.close()
            raise
        _close_durably(fp, durability)
        _replace(temporary, path, durability, fp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class AtomicFileTarget(luigi.LocalTarget):
    """A local file target whose writes are atomic (see the module documentation).

    :param path: the file's path.
    """

    def __init__(self, path, **kwargs):
        if kwargs:
            super().__init__(os.fspath(path), **kwargs)
        else:  # the common case, without Luigi's format machinery (a million of these per run)
            self.path = os.fspath(path)
            self.format = None
            self.is_tmp = False

    def exists(self):
        """Whether the (finished) file exists."""
        return os.path.exists(self.path)

    def open(self, mode="r"):
        """Open for reading, or for an atomic write with ``"w"``/``"wb"``.

        :param mode: ``"r"``, ``"rb"``, ``"w"`` or ``"wb"``.
        """
        if "w" in mode:
            return _AtomicWriteHandle(self.path, mode)
        return open(self.path, mode)

    def temporary_path(self):
        """A context manager yielding a temporary path renamed to :attr:`path` on success."""
        return atomic_path(self.path)

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r})"


class _AtomicWriteHandle:
    """A file handle whose content becomes visible at ``path`` only after a clean close."""

    def __init__(self, path, mode):
        # Set first: if open() below fails, __del__ and __getattr__ still find them.
        self._finished, self._fp = True, None
        self.path = path
        self._temporary = temporary_name(path)
        self._fp = _open_making_directory(self._temporary, mode)
        self._finished = False

    def __getattr__(self, name):
        # Only called for names not set on the handle; never recurse on our own attributes.
        if name in ("_fp", "_finished", "_temporary"):
            raise AttributeError(name)
        return getattr(self._fp, name)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._finished:
            return False
        self._finished = True
        try:
            if exc_type is None:
                durability = fsync_mode()
                _close_durably(self._fp, durability)
                _replace(self._temporary, self.path, durability, self._fp)
                return False
            self._fp.close()
        except BaseException:
            self._discard()
            raise
        self._discard()
        return False

    def _discard(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temporary)

    def close(self):
        """Finish the write and rename the file into place."""
        self.__exit__(None, None, None)

    def writable(self):
        """Always true: this handle only writes."""
        return True

    def write(self, data):
        """Write to the temporary file."""
        return self._fp.write(data)

    def __del__(self):
        # Garbage-collected without close(): an unfinished write is discarded, never renamed.
        if not getattr(self, "_finished", True):
            self._finished = True
            with contextlib.suppress(Exception):
                self._fp.close()
            self._discard()


def first_input_path(task):
    """The path of ``task``'s first input file (a target with a ``path``), or ``None``.

    :param task: a single-spectrum task.
    """
    try:
        targets = luigi.task.flatten(task.input())
    except Exception:  # the input cannot even be built: no file to name
        return None
    for target in targets:
        path = getattr(target, "path", None)
        if path:
            return str(path)
    return None
