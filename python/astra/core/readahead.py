"""Reading ahead: the next spectra of a batch are read in background threads.

While a method computes spectrum *i*, a small pool of reader threads reads the files of the
next spectra of its batch, so that reading and computing overlap instead of taking turns.

How it works, for both method styles:

* the run opens a :class:`ReadAhead` over the batch's input paths, in the order the method
  will meet them (``@task``: the catalogue rows' ``path``; class style: each member's first
  input file), and makes it current (:func:`reading_ahead`);
* the spectrum readers (:func:`astra.tools.spectrum.read_arrays` and
  :func:`~astra.tools.spectrum.read_spectrum`, which the catalogue rows' ``read()``,
  ``read_arrays()``, ``flux``/``ivar``/... and the data models use) go through :func:`through`.
  The first read of a batch is done in the caller's thread and teaches the session *how* the
  method reads (which reader, which data model, which keyword arguments); from then on the
  next files are read that way in the background, and a read of a file already read ahead
  returns that result;
* a file that fails to read raises its error when the method reads it, in the method's
  thread, at its place in the order: it fails alone, exactly as without reading ahead;
* memory is bounded: the spectra read ahead and not yet taken are at most
  ``readahead_memory_mb`` (measured from the first read) and at most :data:`MOST_AHEAD`;
  ``readahead_threads: 0`` turns reading ahead off.

A read that does not match what was read ahead (another reader, other keyword arguments) is
done in the caller's thread, and the session learns the new way of reading. Reads inside
:func:`direct` skip the session (:func:`astra.core.arrays.array_batches` reads that way: it
has no computing to overlap a read with while it fills a batch).

What it can and cannot overlap (measured in ``bench/readahead.py``, docs/benchmarks.md):
reading an apStar file that is in the page cache (tmpfs, or a file read before) is CPU work
done almost entirely with the GIL held (header parsing, building the arrays: two threads
reading files in parallel are no faster than one), so a reader *thread* overlaps only with
the part of the method's computing that releases the GIL (numpy on large arrays), and every
hand-back of the GIL between the method and a reader costs a wait. What a reader thread
does overlap well is waiting for a disk.
"""

import bisect
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
import astra.config

__all__ = ["ReadAhead", "reading_ahead", "through", "direct", "settings", "MOST_AHEAD"]

#: The most spectra read ahead at once, whatever the memory bound allows.
MOST_AHEAD = 32

_current = None  # the ReadAhead of the run in this process (one batch runs at a time)
_in_reader = threading.local()  # set in reader threads (and in direct()): reads go straight to the reader


def settings():
    """The reading-ahead settings: ``(threads, memory in bytes)``.

    :returns: ``readahead_threads`` and ``readahead_memory_mb`` (converted to bytes) from
        :mod:`astra.config`.
    """
    threads = int(astra.config.get("readahead_threads", 2) or 0)
    memory_mb = float(astra.config.get("readahead_memory_mb", 256) or 0)
    return max(threads, 0), int(memory_mb * 2**20)


def _nbytes(value):
    """Roughly the memory a read spectrum holds (its arrays)."""
    size = getattr(value, "nbytes", None)
    if isinstance(size, int):
        return size
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value if not isinstance(v, dict))
    total = 0
    for name in ("flux", "uncertainty", "mask", "spectral_axis"):
        part = getattr(value, name, None)
        part = getattr(part, "array", part)
        total += _nbytes(part) if part is not None else 0
    return total


def _recipe(reader, kind, kwargs):
    try:
        return (reader, kind, tuple(sorted(kwargs.items())), hash(tuple(sorted(kwargs.items()))))
    except TypeError:  # unhashable keyword values: not read ahead
        return None


class ReadAhead:
    """One batch's reading ahead over ``paths`` (in the order the method reads them).

    :param paths: the input file of each spectrum, in order (``None`` for one without a file);
        or a function of no arguments returning them, called at the first read of the batch
        (a method that reads no spectrum through the readers then costs nothing per member).
    :param threads: reader threads (0: no reading ahead).
    :param memory: most bytes of spectra read ahead and not yet taken.
    """

    def __init__(self, paths, threads=2, memory=256 * 2**20):
        self._paths = paths
        self._where = None
        self.threads = threads
        self.memory = memory
        self.recipe = None  # (reader, kind, kwargs items, hash): how the method reads
        self.item_bytes = None
        self.ahead = {}  # index -> (path, future)
        self.next_index = 0  # the next index not yet read ahead nor read
        self._pool = None
        self.hits = self.misses = 0

    @property
    def paths(self):
        """The input file of each spectrum, in order (resolved at the first read)."""
        if self._where is None:
            self._resolve()
        return self._paths

    def _resolve(self):
        paths = self._paths() if callable(self._paths) else self._paths
        self._paths = [str(p) if p is not None else None for p in paths]
        self._where = {}
        for index, path in enumerate(self._paths):
            if path is not None:
                self._where.setdefault(path, []).append(index)

    # ------------------------------------------------------------ the method's reads

    def read(self, reader, path, kind, kwargs):
        """Read ``path`` as ``reader(path, kind, **kwargs)``: from what was read ahead if it was.

        :raises: whatever the reader raised for this file (in the caller's thread).
        """
        if self._where is None:  # the batch's first read: find the paths now
            self._resolve()
        recipe = _recipe(reader, kind, kwargs)
        path = str(path)
        if recipe is not None and recipe == self.recipe:
            index = self._ahead_index(path)
            if index is not None:
                _, future = self.ahead.pop(index)
                self.hits += 1
                self._fill()
                return future.result()
        self.misses += 1
        index = self._index_after(path)
        if index is not None:
            self.next_index = max(self.next_index, index + 1)
        if recipe != self.recipe:
            self._drop()  # read another way: what was read ahead is of no use
            self.recipe = recipe
        value = reader(path, kind, **kwargs)
        if self.item_bytes is None:
            self.item_bytes = max(_nbytes(value), 1)
        self._fill()
        return value

    def _ahead_index(self, path):
        for index in self._where.get(path, ()):
            if index in self.ahead:
                return index
        return None

    def _index_after(self, path):
        indices = self._where.get(path)
        if not indices:
            return None
        at = bisect.bisect_left(indices, self.next_index)
        return indices[at] if at < len(indices) else indices[-1]

    # ------------------------------------------------------------ the readers

    def window(self):
        """How many spectra may be read ahead at once (the memory bound)."""
        if self.threads <= 0 or self.item_bytes is None or self.recipe is None:
            return 0
        return max(1, min(MOST_AHEAD, self.memory // self.item_bytes))

    def _fill(self):
        window = self.window()
        if not window:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="astra-readahead")
        reader, kind, items, _ = self.recipe
        kwargs = dict(items)
        while len(self.ahead) < window and self.next_index < len(self.paths):
            index, path = self.next_index, self.paths[self.next_index]
            self.next_index += 1
            if path is not None:
                self.ahead[index] = (path, self._pool.submit(_read_in_thread, reader, path, kind, kwargs))

    def _drop(self):
        for _, future in self.ahead.values():
            future.cancel()
        self.ahead.clear()

    def close(self):
        """Stop reading ahead; what was read and not taken is let go."""
        self._drop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _read_in_thread(reader, path, kind, kwargs):
    _in_reader.active = True
    return reader(path, kind, **kwargs)


@contextlib.contextmanager
def direct():
    """Within the block, reads in this thread skip the current session (read here, now).

    For a consumer that has no computing to overlap a read with (it only collects what it
    reads), where reader threads would only add GIL hand-offs.
    """
    before = getattr(_in_reader, "active", False)
    _in_reader.active = True
    try:
        yield
    finally:
        _in_reader.active = before


def through(reader, path, kind, kwargs):
    """Read ``path`` with ``reader(path, kind, **kwargs)``, through the current session if any.

    The spectrum readers call this; outside a run (or in a reader thread, or in a thread other
    than the run's) it is a plain call of ``reader``.
    """
    session = _current
    if session is None or getattr(_in_reader, "active", False) or threading.current_thread() is not session.owner:
        return reader(path, kind, **kwargs)
    return session.read(reader, path, kind, kwargs)


@contextlib.contextmanager
def reading_ahead(paths, threads=None, memory=None):
    """Read the files ``paths`` ahead while the body runs (in this thread).

    :param paths: each spectrum's input file, in the order the method reads them, or a
        function of no arguments returning them (called at the first read).
    :param threads: reader threads (default: the ``readahead_threads`` setting).
    :param memory: bytes bound (default: the ``readahead_memory_mb`` setting).
    :returns: the :class:`ReadAhead` (or ``None`` when reading ahead is off or nested).
    """
    global _current
    default_threads, default_memory = settings()
    threads = default_threads if threads is None else threads
    memory = default_memory if memory is None else memory
    if threads <= 0 or _current is not None:
        yield None
        return
    session = ReadAhead(paths, threads, memory)
    session.owner = threading.current_thread()
    _current = session
    try:
        yield session
    finally:
        _current = None
        session.close()
