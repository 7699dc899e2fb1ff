"""A time limit per spectrum: the batch runs in a worker process that is killed when a spectrum
runs too long, and restarted on the spectra that are left.

A method's ``timeout`` (seconds; ``@task(timeout=60)``, a class's ``timeout = 60``, ``astra run
--timeout 60``, the start form of ``astra web``) turns this on for its batches. Without one
nothing here runs: no process, no pipe, no cost.

With one, :func:`time_limited` (around a style's ``run()``, inside its claim) forks a *worker
process* that runs the batch as it would run without a limit, in its own process group. The run
loop tells the parent, through a pipe, when it starts and finishes a spectrum (:func:`started`,
from each style's ``on_started`` hook of :mod:`astra.core.loop`, and :func:`finished`; nothing
when no worker).
The parent watches the clock; when one spectrum runs past the limit it kills the worker's whole
process group (so a method stuck in C code, or in a subprocess it started, stops too), gives
that spectrum its failure -- "TimeoutError: timed out after N s", through the style's
``timed_out_member(key, reason)`` (a flagged row for a ``@task``, a failure record for a class)
-- and starts a fresh worker, which asks again which members are still to do (less those that
failed in this run, :func:`drop_settled`), loads the model again (counted in its
``t_overhead`` / ``t_setup``) and goes on with the rest. A worker that dies on a spectrum (a
segfault, the kernel's OOM killer) is handled the same way, with the signal as the reason.

The parent holds the batch's one outcome and announces the events (:mod:`astra.core.events`):
the worker's own events are relayed to it (its subscribers are replaced by the relay), and the
parent adds the timed-out spectra. So run recording, ``/failures``, Luigi's status, the
summary and the exit code see one batch whose timed-out spectra failed. A result the killed
worker computed but had not yet written (sinks write every second or two) is found missing by
the next worker and computed again; it is counted once.

The clock runs from :func:`started` to :func:`finished` (or to the next :func:`started`): a
method's setup, and Astra's writing of results, are not limited. For a ``@task`` generator
that asks for several spectra before it yields, the clock restarts at each spectrum asked for
and each result yielded, and blames the spectrum it asked for last.
"""

import logging
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
import traceback

from astra.core import events
from astra.core.events import BatchRun, MemberFailure
from astra.core.outcome import BatchMemberError, BatchOutcome

__all__ = ["time_limited", "limit_of", "started", "finished", "drop_settled", "in_worker", "timed_out_reason"]

logger = logging.getLogger("astra")

_HEADER = struct.Struct("!I")

_worker = None  # in a worker process: its _Channel to the parent
_settled = set()  # failure ids of members an earlier worker of this batch failed (inherited at fork)


def limit_of(batch):
    """The time limit per spectrum of ``batch`` in seconds, or ``None`` (its ``timeout``; 0: none).

    :param batch: a task.
    """
    value = getattr(batch, "timeout", None)
    try:
        value = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return value if value and value > 0 else None


def timed_out_reason(limit):
    """``"TimeoutError: timed out after 5 s"``: the reason a timed-out spectrum gets.

    :param limit: the limit in seconds.
    """
    return f"TimeoutError: timed out after {limit:g} s"


def in_worker():
    """Whether this process is a worker process of a batch under a time limit."""
    return _worker is not None


def started(spectrum):
    """The run loop starts on ``spectrum`` (a no-op outside a worker process).

    :param spectrum: a member task (its ``task_id`` is the key), or a ``spectrum_pk``.
    """
    if _worker is not None:
        _worker.started(getattr(spectrum, "task_id", spectrum))


def finished(spectrum):
    """The run loop is done with ``spectrum`` (succeeded or failed; a no-op outside a worker).

    :param spectrum: as for :func:`started`.
    """
    if _worker is not None:
        _worker.finished(getattr(spectrum, "task_id", spectrum))


def drop_settled(members, failure_id):
    """``members`` less those an earlier worker of this batch already failed or timed out.

    :param members: the batch's incomplete members (asked now).
    :param failure_id: a function of a member giving the task id its failure is reported under.
    :returns: ``members`` itself when nothing was settled (always, outside a worker process).
    """
    if not _settled:
        return members
    return [m for m in members if failure_id(m) not in _settled]


class _Channel:
    """The worker's end of the pipe: length-prefixed pickles, and the clock's state."""

    def __init__(self, fd):
        self.fd = fd
        self.open = {}  # keys started and not finished, in order
        self.run = None  # the batch's BatchRun: its counts ride on the clock's messages

    def counts(self):
        run = self.run
        return None if run is None else (run.done, run.failed)

    def send(self, message):
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        data = _HEADER.pack(len(data)) + data
        while data:
            data = data[os.write(self.fd, data):]

    def started(self, key):
        self.open.pop(key, None)
        self.open[key] = True
        self.send(("on", key, time.monotonic(), self.counts()))

    def finished(self, key):
        self.open.pop(key, None)
        if self.open:  # asked ahead: the clock restarts on the one asked for last
            self.send(("on", next(reversed(self.open)), time.monotonic(), self.counts()))
        else:
            self.send(("off", time.monotonic(), self.counts()))


class _Relay:
    """The worker's only subscriber: its batch's events go to the parent."""

    def __init__(self, batch, channel):
        self.batch = batch
        self.channel = channel

    def batch_started(self, run):
        if run.batch is self.batch:
            # The counts go with every message of the clock (so the parent knows exactly what
            # was done when it kills), and with the (throttled) progress events.
            self.channel.run = run
            self.channel.send(("started", run.pending, run.skipped, run.by_others))

    def member_failed(self, run, failure):
        if run.batch is self.batch:
            member = None
            if failure.member is not None:
                try:
                    member = pickle.loads(pickle.dumps(dict(failure.member.param_kwargs)))
                except Exception:  # then recorded without its parameters
                    member = None
            self.channel.send(("failed", failure.task_id, failure.reason, failure.traceback, failure.path, member))

    def batch_progress(self, run):
        if run.batch is self.batch:
            self.channel.send(("progress", run.done, run.failed))


class _Reader:
    """The parent's end of the pipe: whole messages as they arrive."""

    def __init__(self, fd):
        self.fd = fd
        self.buffer = b""

    def _messages(self):
        out = []
        while len(self.buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buffer)
            if len(self.buffer) < _HEADER.size + size:
                break
            out.append(pickle.loads(self.buffer[_HEADER.size:_HEADER.size + size]))
            self.buffer = self.buffer[_HEADER.size + size:]
        return out

    def read(self):
        """The messages now readable (after a wait); ``None`` at the end of the pipe."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        self.buffer += chunk
        return self._messages()

    def rest(self, wait=5.0):
        """Every message left, to the end of the pipe (the worker is gone or going), or what
        came within ``wait`` seconds (a process of its own session the method forked may hold
        the pipe open)."""
        out = []
        deadline = time.monotonic() + wait
        while True:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return out + self._messages()
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return out + self._messages()
            self.buffer += chunk
            out += self._messages()


class _Merged:
    """The parent's one view of the batch over its workers: the outcome, and the events."""

    def __init__(self, batch):
        self.batch = batch
        self.outcome = None
        self.run = None
        self.ok = self.processed = self.failed = 0  # of workers that ended
        self.now = (0, 0)  # (processed, failed) of the running worker
        self.left = 0  # members not yet processed when the running worker started, less its work

    def worker_started(self, pending, skipped, by_others):
        if self.run is None:
            self.outcome = BatchOutcome(self.batch.get_batch_size(), skipped=skipped, by_others=by_others)
            self.batch.batch_outcome = self.outcome
            self.run = BatchRun(self.batch, pending, skipped, by_others)
        else:
            lost = pending - self.left  # counted done by the killed worker, never written: done again now
            if lost > 0:
                logger.info("%s: %d results the stopped worker had not yet written are computed again",
                            self.batch.task_id, lost)
                self.ok -= lost
                self.processed -= lost
        self.left = pending
        self.now = (0, 0)
        self._count()

    def member_failed(self, failure):
        _settled.add(failure.task_id)
        if self.outcome is None:
            return
        self.outcome.add_failure(failure.task_id, failure.reason)
        self.run.member_failed(failure)

    def progress(self, processed, failed):
        self.now = (processed, failed)
        self._count()

    def worker_ended(self, stopped_on=None):
        """Fold the worker's counts in; ``stopped_on``: it was stopped on one more member."""
        processed, failed = self.now
        self.ok += processed - failed
        self.processed += processed
        self.failed += failed
        self.left -= processed
        self.now = (0, 0)
        if stopped_on is not None:
            self.processed += 1
            self.failed += 1
            self.left -= 1
            self.member_failed(stopped_on)
        self._count()

    def _count(self):
        if self.run is None:
            return
        processed, failed = self.now
        self.run.done = self.processed + processed
        self.run.failed = self.failed + failed
        self.outcome.done = self.ok + processed - failed
        self.run.progress()

    def close(self):
        if self.run is not None:
            self.run.close()
            logger.info("%s: %s", self.batch.task_id, self.run.message())


def time_limited(run):
    """Wrap a style's ``run(self)`` so that, under a time limit, it runs in killable workers.

    The batch needs ``timed_out_member(key, reason)`` (write the spectrum's failure; return its
    :class:`~astra.core.events.MemberFailure`) and ``fails_on_member_errors()`` (whether a failed
    member fails the batch for Luigi).

    :param run: the ``run(self)`` method.
    :returns: the wrapped method.
    """

    def wrapper(self):
        limit = limit_of(self)
        if limit is None or _worker is not None:
            return run(self)
        return _Supervisor(self, run, limit).run()

    wrapper.__wrapped__ = run
    wrapper.__name__ = run.__name__
    wrapper.__qualname__ = run.__qualname__
    wrapper.__doc__ = run.__doc__
    wrapper.__module__ = run.__module__
    return wrapper


class _Supervisor:
    """The parent: starts workers, watches the clock, kills and restarts."""

    def __init__(self, batch, run, limit):
        self.batch = batch
        self.body = run
        self.limit = limit
        self.merged = _Merged(batch)

    def run(self):
        _settled.clear()
        try:
            while True:
                ended, error = self._one_worker()
                if ended:
                    break
        finally:
            _settled.clear()
            self.merged.close()
        outcome = self.merged.outcome
        if error is not None:
            if outcome is not None and getattr(error, "outcome", None) is not None:
                error.outcome = outcome
            raise error
        if outcome is not None and outcome.failed and self.batch.fails_on_member_errors():
            raise BatchMemberError(self.batch.get_task_family(), outcome)
        return None

    # ---------------------------------------------------------------- one worker

    def _one_worker(self):
        """Run one worker to its end; ``(True, error)`` when the batch is over, ``(False, None)``
        when it was stopped on a spectrum and another worker must go on."""
        read_fd, write_fd = os.pipe()
        watch_read, watch_write = os.pipe()  # closed by the parent's death: the worker then dies
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read_fd)
            os.close(watch_write)
            self._worker_main(write_fd, watch_read)
        os.close(write_fd)
        os.close(watch_read)
        try:
            try:
                os.setpgid(pid, pid)  # (the worker does it too: whichever runs first)
            except OSError:
                pass
            return self._watch(pid, read_fd)
        finally:
            os.close(read_fd)
            os.close(watch_write)
            _kill_group(pid)

    def _watch(self, pid, fd):
        reader = _Reader(fd)
        on = None  # (key, since) while a spectrum is on the clock
        end = None
        stopped = None  # the key the worker was stopped on
        while end is None:
            timeout = None if on is None else max(0.0, on[1] + self.limit - time.monotonic())
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:  # the limit passed
                stopped = on[0]
                _kill_group(pid)
                break
            messages = reader.read()
            if messages is None:
                break
            for message in messages:
                kind = message[0]
                if kind == "on":
                    on = (message[1], message[2])
                    self._counts(message[3])
                elif kind == "off":
                    on = None
                    self._counts(message[2])
                elif kind == "end":
                    end = message
                else:
                    self._event(message)
        status = _reap(pid) if stopped is None else None
        _kill_group(pid)  # (and whatever it left running)
        for message in reader.rest():  # what it said before it was stopped or ended
            if message[0] not in ("on", "off", "end"):
                self._event(message)
            elif message[0] == "end":
                end = message
            else:
                self._counts(message[-1])
        if status is None:
            status = _reap(pid)
        if stopped is not None:
            reason = timed_out_reason(self.limit)
            logger.error("%s: spectrum %s %s; its worker process was stopped and a new one goes on with the rest",
                         self.batch.get_task_family(), stopped, reason.split(": ", 1)[1])
            self.merged.worker_ended(self._failure(stopped, reason))
            return False, None
        if end is None:  # died without a word: a segfault, the OOM killer, os._exit in the method
            how = _describe_status(status)
            if on is None:
                self.merged.worker_ended()
                return True, RuntimeError(f"{self.batch.task_id}: its worker process {how}")
            reason = f"WorkerDied: the worker process {how}"
            logger.error("%s: spectrum %s: %s; a new worker goes on with the rest", self.batch.get_task_family(),
                         on[0], reason)
            self.merged.worker_ended(self._failure(on[0], reason))
            return False, None
        self.merged.worker_ended()
        return True, _error_of(end, self.batch)

    def _counts(self, counts):
        if counts is not None:
            self.merged.progress(*counts)

    def _event(self, message):
        kind = message[0]
        merged = self.merged
        if kind == "started":
            merged.worker_started(*message[1:])
        elif kind == "progress":
            merged.progress(*message[1:])
        elif kind == "failed":
            task_id, reason, tb, path, params = message[1:]
            member = None
            if params is not None:
                try:
                    member = type(self.batch)(**params)
                except Exception:  # recorded without its parameters
                    member = None
            merged.member_failed(MemberFailure(task_id, reason, member, tb, path))

    def _failure(self, key, reason):
        try:
            return self.batch.timed_out_member(key, reason)
        except Exception as error:  # the failure still counts; only its record is missing
            logger.exception("%s: could not record that spectrum %s %s", self.batch.task_id, key, reason)
            return MemberFailure(str(key), f"{reason} (not recorded: {error})")

    # ---------------------------------------------------------------- in the worker

    def _worker_main(self, write_fd, watch_fd):
        global _worker
        code = 0
        try:
            os.setpgid(0, 0)
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
            except ValueError:  # forked from a thread other than the main one: handlers are not ours
                pass
            _worker = _Channel(write_fd)
            threading.Thread(target=_die_with_parent, args=(watch_fd,), daemon=True).start()
            for subscriber in events.subscribers():
                events.unsubscribe(subscriber)
            events.subscribe(_Relay(self.batch, _worker))
            try:
                self.body(self.batch)
                end = ("end", None, None)
            except BatchMemberError:
                end = ("end", "member-error", None)
            except BaseException as error:  # the parent raises it
                code = 1
                end = ("end", "error", _portable(error))
            _worker.send(end)
        except BaseException:
            code = 2
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def _portable(error):
    """``error`` pickled, or ``(type name, text, traceback)`` when it does not pickle."""
    try:
        data = pickle.dumps(error)
        pickle.loads(data)
        return ("pickle", data)
    except Exception:
        return ("text", f"{type(error).__name__}: {error}", traceback.format_exc())


def _error_of(end, batch):
    """The exception the parent raises for the worker's ``end`` message, or ``None``."""
    _, kind, detail = end
    if kind is None or kind == "member-error":
        return None  # the parent decides from the whole batch's outcome
    form = detail[0]
    if form == "pickle":
        return pickle.loads(detail[1])
    return RuntimeError(f"{batch.task_id}: {detail[1]}\n{detail[2]}")


def _die_with_parent(fd):
    """In the worker: when the parent's end of the watch pipe closes, kill this process group."""
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    os.killpg(0, signal.SIGKILL)


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid):
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


def _describe_status(status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return f"was killed by signal {number} ({name})"
    return f"exited with status {os.WEXITSTATUS(status)}"
