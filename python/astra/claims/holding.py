"""Holding a claim: a heartbeat thread keeps it live until it is released; waiting for another's.

:class:`Claim` takes a key in a store and renews it every ``claim_heartbeat`` seconds.
:class:`ClaimReleased` is the Luigi task a batch yields (a dynamic dependency) when another run
holds its claim: Luigi runs the other batches first and this one again afterwards.
"""

import contextlib
import logging
import threading
import time
import uuid

import luigi

from astra.claims.database_store import DatabaseClaimStore
from astra.claims.protocol import ClaimRecord, expiry_seconds, heartbeat_interval
from astra.claims.stores import store_from_spec
from astra.processes import this_process

__all__ = ["Claim", "ClaimReleased", "is_held"]

logger = logging.getLogger("astra")

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


def is_held(store, key):
    """Whether this process holds the claim of ``key`` in ``store`` (a nested ``run()`` of its batch).

    :param store: a claim store.
    :param key: the claimed key.
    """
    return (store.spec, key) in _held
