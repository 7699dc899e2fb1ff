"""Who is running, and is it still alive: process identity for claims and temporary files.

A process is identified by its host name, the kernel's boot id, its pid and its start time
(:class:`ProcessIdentity`). On the same host and boot, whether that process is alive is known
at once (the pid exists and started at the same time, so a reused pid is not mistaken for
it). A process on another host cannot be asked: claims fall back to a heartbeat that expires
(:mod:`astra.claims`) and temporary files to their age (:mod:`astra.targets`).

:func:`die_with_parent` asks the kernel to kill this process when its parent dies
(``PR_SET_PDEATHSIG``). It is installed for Luigi's forked ``--workers N`` task processes
when this module is imported, so a SIGKILLed ``astra run`` or ``luigi`` takes its workers
with it instead of leaving them running and writing.
"""

import ctypes
import dataclasses
import functools
import multiprocessing.util
import os
import signal
import socket

from astra.luigi_glue.running import TaskProcess

__all__ = ["ProcessIdentity", "this_process", "boot_id", "pid_alive", "die_with_parent"]

#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
_PR_SET_PDEATHSIG = 1


@functools.lru_cache(maxsize=None)
def boot_id():
    """The kernel's boot id (a new one after every reboot), or ``""`` where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fp:
            return fp.read().strip()
    except OSError:
        return ""


def _start_time(pid):
    """The start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat``), or ``None``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            stat = fp.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class ProcessIdentity:
    """A process: host, boot id, pid and start time.

    :param host: the host name (:func:`socket.gethostname`).
    :param boot: the kernel boot id (:func:`boot_id`).
    :param pid: the process id.
    :param started: start time in clock ticks since boot, or ``None`` if unknown.
    """

    host: str
    boot: str
    pid: int
    started: int = None

    def same_machine(self):
        """Whether this identity is of this host and this boot (so :meth:`alive` is exact)."""
        return self.host == socket.gethostname() and bool(self.boot) and self.boot == boot_id()

    def alive(self):
        """Whether the process is alive: ``True``/``False`` on this machine, ``None`` elsewhere.

        On this machine a process of the same pid that started at another time is a reused
        pid, and counts as dead. A process of another boot of this host is dead.
        """
        if self.host == socket.gethostname() and self.boot and boot_id() and self.boot != boot_id():
            return False
        if not self.same_machine():
            return None
        if not pid_alive(self.pid):
            return False
        if self.started is None:
            return True
        started = _start_time(self.pid)
        return started is None or started == self.started

    def describe(self):
        """``pid 123 on host``: for messages."""
        return f"pid {self.pid} on {self.host}"


def pid_alive(pid):
    """Whether a process ``pid`` exists on this machine (a zombie counts as dead).

    :param pid: a process id.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            stat = fp.read()
        return stat[stat.rfind(b")") + 2 :][:1] != b"Z"
    except OSError:
        return True


def this_process():
    """The :class:`ProcessIdentity` of the calling process (fresh after a fork)."""
    pid = os.getpid()
    return ProcessIdentity(socket.gethostname(), boot_id(), pid, _start_time(pid))


def die_with_parent(sig=signal.SIGKILL):
    """Have the kernel send ``sig`` to this process when its parent exits (Linux only).

    If the parent is already gone (it died between the fork and this call), exit at once.

    :param sig: the signal (default ``SIGKILL``: a worker of a killed run must stop writing).
    :returns: whether the request was accepted (false where ``prctl`` is not available).
    """
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        accepted = libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if accepted and (parent == 1 or not pid_alive(parent)):
        os._exit(1)
    return accepted


def _after_fork(_):
    # Runs in every multiprocessing child right after the fork; only Luigi's task processes
    # (the ``--workers N`` children) are tied to their parent.
    if isinstance(multiprocessing.current_process(), TaskProcess):
        die_with_parent()


class _AfterForkToken:
    """An object for :func:`multiprocessing.util.register_after_fork` (it keys on a weakref)."""


_TOKEN = _AfterForkToken()
multiprocessing.util.register_after_fork(_TOKEN, _after_fork)
