"""Reaching a central luigid from a run: one clear error when it cannot be reached.

:func:`check_scheduler` asks luigid's port before a run hands it any work (for a few seconds,
so a luigid that is restarting is waited for), and :func:`unreachable` turns the ``RPCError``
Luigi raises when luigid goes away mid-run into the same :class:`SchedulerUnreachable`, which
``astra`` prints as one line (exit status 1) instead of a traceback.
"""

import re
import socket

from astra.retry import RetryPolicy

__all__ = ["SchedulerUnreachable", "check_scheduler", "unreachable", "scheduler_url", "CHECK_SECONDS"]

#: Seconds :func:`check_scheduler` keeps trying before it gives up.
CHECK_SECONDS = 10.0

#: How to point a run at luigid, or away from it (the end of every :class:`SchedulerUnreachable`).
_HINT = ("start luigid there, or give another --scheduler-host/--scheduler-port (settings scheduler_host, "
         "scheduler_port); without a scheduler_host a run uses a local scheduler")


class SchedulerUnreachable(RuntimeError):
    """Raised when the central luigid a run was pointed at cannot be reached.

    :param url: luigid's URL.
    :param reason: why (the connection error).
    """

    def __init__(self, url, reason):
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach luigid at {url}: {reason}; {_HINT}")


def scheduler_url(host, port):
    """luigid's URL for ``host`` and ``port``, as Luigi's client builds it."""
    return f"http://{host}:{port}"


def check_scheduler(host, port, seconds=CHECK_SECONDS):
    """Return when luigid's port on ``host`` accepts a connection; try for ``seconds``.

    :param host: luigid's host.
    :param port: its port.
    :param seconds: how long to keep trying (a luigid being restarted is back within it).
    :raises SchedulerUnreachable: naming the URL and the last connection error.
    """
    policy = RetryPolicy(tries=1_000_000, backoff=0.5, multiplier=1.0, within=seconds, exceptions=(OSError,))

    def connect():
        socket.create_connection((host, int(port)), timeout=min(5.0, max(0.5, seconds))).close()

    try:
        policy.call_counted(connect)
    except OSError as error:
        raise SchedulerUnreachable(scheduler_url(host, port), _reason(error)) from None


def unreachable(error, host=None, port=None):
    """The :class:`SchedulerUnreachable` for Luigi's ``RPCError`` ``error``, or ``None`` for any
    other exception.

    :param error: an exception raised by :func:`luigi.build` or a Luigi scheduler client.
    :param host: luigid's host, for the message when ``error`` does not name its URL.
    :param port: its port.
    """
    import luigi.rpc

    if not isinstance(error, luigi.rpc.RPCError):
        return None
    text = str(error.args[0]) if error.args else str(error)
    url = text.rsplit(" ", 1)[-1].strip("'\"") if "remote scheduler" in text else scheduler_url(host, port)
    cause = getattr(error, "sub_exception", None)
    return SchedulerUnreachable(url, _reason(cause) if cause is not None else text)


def _reason(error):
    """The innermost reason of a connection error, in one line (``[Errno 111] Connection refused``)."""
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\][^)\"'\n]*", text)
    if errno:
        return errno.group(0).strip()
    lines = text.strip().splitlines()
    return lines[0] if lines else type(error).__name__
