"""Claims kept as files, one per key, in a directory (see :mod:`astra.claims`).

A claim file ``<key>.claim`` holds JSON (host, boot id, pid, process start time, a random
token); its mtime is the heartbeat. Claims are created and taken over under an ``flock`` of the
directory's ``.lock``, so the store works on a local disk and on a shared file system with
working locks (NFSv4, Lustre, GPFS).
"""

import contextlib
import fcntl
import json
import os
import time

from astra.claims.protocol import holds, record_from_values
from astra.targets import temporary_name

__all__ = ["FileClaimStore"]


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
        return record_from_values(values, heartbeat=mtime)

    def _write(self, record):
        # Renamed into place (readers never see half a claim) but not fsync-ed: after a
        # machine crash every claim is stale anyway, and a flush would cost milliseconds.
        path = self.path(record.key)
        temporary = temporary_name(path)
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
            if other is not None and holds(other, record, expiry):
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
