"""What every claim store shares: the claim settings, a claim's record, and the store protocol.

A store keeps at most one claim per key and answers four questions (:class:`ClaimStore`):
who holds a key, take it (unless a live claim holds it), renew a held claim's heartbeat, and
release it. :mod:`astra.claims.file_store` and :mod:`astra.claims.database_store` implement it.
"""

import dataclasses
import time
import typing

import astra.config
from astra.processes import ProcessIdentity

__all__ = ["ClaimRecord", "ClaimStore", "claims_enabled", "heartbeat_interval", "expiry_seconds",
           "record_from_values", "holds"]


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


def record_from_values(values, heartbeat=None):
    owner = ProcessIdentity(values["host"], values.get("boot") or "", int(values["pid"]), values.get("started"))
    beat = float(values["heartbeat"] if heartbeat is None else heartbeat)
    return ClaimRecord(values["key"], values["token"], owner, beat, values.get("description") or "")


def holds(other, record, expiry):
    """Whether claim ``other`` keeps ``record``'s process from taking the key."""
    if other.owner == record.owner:
        return False  # left by this very process (a run that could not release it): ours again
    return other.live(expiry)


class ClaimStore(typing.Protocol):
    """The four operations of a claim store, and the text that names it.

    A store is chosen by where a task's results go (:func:`astra.claims.store_for`) and named
    by its :attr:`spec` (:func:`astra.claims.store_from_spec` turns a spec back into a store,
    in another process).
    """

    #: ``"file:<directory>"`` or ``"database"``.
    spec: str

    def holder(self, key):
        """The current claim of ``key`` (live or stale), or ``None``."""

    def acquire(self, record, expiry=None):
        """Take the claim of ``record.key`` unless another live claim holds it; ``(taken, other)``."""

    def refresh(self, record):
        """Renew the heartbeat of a claim held by ``record``; whether it is still ``record``'s."""

    def release(self, record):
        """Release the claim if it still is ``record``'s."""
