"""The one run loop: a method's generator over a feed of spectra, one result or one failure each.

Both method styles run through :func:`run_loop`. A ``@task`` generator is the native contract
(:func:`astra.tasks.function_run.execute` is a thin call of this loop); a class's
``setup()``/``process()`` is an adapter onto it (:mod:`astra.tasks.class_method`). What differs
between the styles is only a :class:`Contract`: how a spectrum is keyed, checked, stamped with
its timing and turned into a failure. The loop itself is written once:

* the spectra reach the method through a :class:`Feed`, which checks each one's input first
  (a bad file is that spectrum's failure: the method never sees it) and notes when the method
  first asks (its overhead, shared among the spectra of the call);
* each result goes to the sink (:mod:`astra.core.sinks`) and is yielded as the sink stores it;
* when the method raises, the spectrum it last asked for failed; the method is called again
  over what it has not finished (spectra it asked for but did not answer go first);
* a spectrum whose error is transient under the method's :class:`~astra.retry.RetryPolicy`
  is tried again (after the policy's wait) before it counts as failed: only that spectrum is
  retried, and :attr:`Contract.on_retry` hears of each retry (the run counts retried spectra);
* an exception raised before the method asked for any spectrum is no spectrum's fault and is
  raised.

**The per-spectrum call** is the one line ``result = next(generator)`` in :func:`run_loop`;
:attr:`Contract.on_started` is called as each spectrum is handed to the method (the "spectrum
started" notification), from :meth:`Feed.__next__`.
"""

import collections
import contextlib
import logging
import time

from astra.core.readahead import reading_ahead
from astra.core.sinks import Lost
from astra.retry import NO_RETRY, Attempts

__all__ = ["run_loop", "Contract", "Feed", "ContractError"]

logger = logging.getLogger("astra")


class ContractError(TypeError):
    """A method broke the loop's contract (not a generator, or yielded a wrong object)."""


class Contract:
    """What the loop needs to know about one method style.

    Every hook has a default that suits a style whose spectra are keyed by themselves.

    :param name: the method's name, for errors.
    :param key: a spectrum's key (``spectrum_pk``; a class-style member: its id).
    :param result_key: the key of the spectrum a result answers; ``None`` for a method that
        answers each spectrum before it takes the next (a class's ``process()``): a result
        then answers every spectrum outstanding.
    :param check: the input check of a spectrum: an exception naming the bad file, or ``None``.
    :param path: a spectrum's input file, for reading ahead (``None``: none).
    :param accept: ``accept(result, elapsed, share)``: validate a yielded result and stamp its
        timing (raise :class:`ContractError` for a wrong object).
    :param answered: ``answered(spectrum, result)``: ``result`` answers ``spectrum``.
    :param failure: ``failure(spectrum, error, share, elapsed, attempts)``: the result standing
        for a failed spectrum (given to the sink like any result).
    :param on_started: called with each spectrum as the method is handed it.
    :param on_retry: ``on_retry(spectrum, attempt, error, wait)`` before a spectrum is tried
        again.
    """

    __slots__ = ("name", "key", "result_key", "check", "path", "accept", "answered", "failure",
                 "on_started", "on_retry")

    def __init__(self, name, failure, key=id, result_key=id, check=None, path=None, accept=None, answered=None,
                 on_started=None, on_retry=None):
        self.name = name
        self.failure = failure
        self.key = key
        self.result_key = result_key
        self.check = check
        self.path = path
        self.accept = accept
        self.answered = answered
        self.on_started = on_started
        self.on_retry = on_retry


class Feed:
    """The iterator of spectra handed to the method; notes what was asked for, and when.

    :param spectra: the spectra, in order.
    :param contract: the style's :class:`Contract`.
    :param checked: the spectra's inputs were checked already (see :meth:`check_all`).
    """

    def __init__(self, spectra, contract, checked=False):
        self._queue = collections.deque(spectra)
        self._contract = contract
        self._key = contract.key
        self._check = None if checked else contract.check
        self._started = contract.on_started
        self.first_request = None
        self.outstanding = {}  # key -> spectrum, handed out and not yet answered
        self.last = None
        self.rejected = []  # (spectrum, error): bad input files, never handed out

    def __iter__(self):
        return self

    def _next_good(self):
        """Move bad spectra at the front to :attr:`rejected`; whether a good one is left."""
        queue, check = self._queue, self._check
        while queue:
            if check is None:
                return True
            problem = check(queue[0])
            if problem is None:
                return True
            self.rejected.append((queue.popleft(), problem))
        return False

    def __next__(self):
        if self.first_request is None:
            self.first_request = time.perf_counter()
        if self._check is None:
            if not self._queue:
                raise StopIteration
        elif not self._next_good():
            raise StopIteration
        spectrum = self._queue.popleft()
        self.outstanding[self._key(spectrum)] = spectrum
        self.last = spectrum
        if self._started is not None:
            self._started(spectrum)
        return spectrum

    def __len__(self):
        return len(self._queue)

    def check_all(self):
        """Check every spectrum's input now (the rest are then handed out unchecked).

        :returns: how many have a good input.
        """
        check = self._check
        if check is not None:
            good = collections.deque()
            for spectrum in self._queue:
                problem = check(spectrum)
                if problem is None:
                    good.append(spectrum)
                else:
                    self.rejected.append((spectrum, problem))
            self._queue = good
            self._check = None
        return len(self._queue)

    def take_rejected(self):
        """The spectra refused for a bad input file since the last call, with their errors."""
        rejected, self.rejected = self.rejected, []
        return rejected

    def reject(self, spectrum, error):
        """The method could not use ``spectrum`` (e.g. its file did not read in a batch of
        arrays): it gets a failure with ``error``, as a bad input file does."""
        self.outstanding.pop(self._key(spectrum), None)
        self.rejected.append((spectrum, error))

    def answered(self, result):
        """The spectrum ``result`` answers (no longer outstanding), or ``None``."""
        result_key = self._contract.result_key
        if result_key is None:
            self.outstanding.clear()
            return None
        return self.outstanding.pop(result_key(result), None)

    def restart(self, failed, again=False):
        """A fresh feed over what is left: the outstanding spectra first.

        :param failed: the spectrum that failed.
        :param again: keep ``failed`` (it is retried), before all others, instead of dropping it.
        """
        self.outstanding.pop(self._key(failed), None)
        first = [failed] if again else []  # a spectrum tried again goes first
        return Feed(first + list(self.outstanding.values()) + list(self._queue), self._contract,
                    checked=self._check is None)


_DONE = object()  # the generator finished
_FAILED = object()  # the generator raised


def run_loop(method, spectra, contract, sink, policy=NO_RETRY, re_raise_exceptions=False, on_result=None,
             sleep=time.sleep):
    """Run ``method`` over ``spectra``; yield what ``sink`` stores (and :class:`~astra.core.sinks.Lost`).

    :param method: called as ``method(feed)``; returns a generator yielding one result per
        spectrum it takes from ``feed`` (the method's parameters are bound already).
    :param spectra: a list of spectra (its length shares out the overhead).
    :param contract: the style's :class:`Contract`.
    :param sink: a sink (:class:`astra.core.sinks.Sink`). If the run stops early (an exception,
        or the caller stops iterating) what it buffers is stored.
    :param policy: the method's :class:`~astra.retry.RetryPolicy` (per spectrum).
    :param re_raise_exceptions: re-raise a spectrum's exception (after its failure reached the
        sink) instead of going on.
    :param on_result: called with each result and each failure before the sink gets it.
    :param sleep: the function that waits between tries.
    :returns: a generator of what the sink stored (results, and ``Lost`` for results it could
        not store).
    """
    feed = Feed(spectra, contract)
    accept, answered, make_failure = contract.accept, contract.answered, contract.failure
    retries = policy.tries > 1
    one_at_a_time = contract.result_key is None
    attempts = {}  # key -> Attempts, of spectra that failed at least once
    closed = False
    reading = contextlib.ExitStack()
    try:
        if contract.path is not None:
            # The next spectra's files are read in the background while the method computes
            # (their paths are found at the first read: a method that reads none pays nothing).
            path, queued = contract.path, list(feed._queue)
            reading.enter_context(reading_ahead(lambda: [path(s) for s in queued]))
        while True:
            total = len(feed)
            called = time.perf_counter()
            generator = method(feed)
            if not hasattr(generator, "__next__"):
                raise ContractError(
                    f"{contract.name} returned {type(generator).__name__}, not a generator: "
                    "a method yields one result per spectrum"
                )
            share = None
            resumed = time.perf_counter()
            failed = again = None
            while True:
                error = None
                try:
                    result = next(generator)  # the per-spectrum call
                except StopIteration:
                    result = _DONE
                except Exception as caught:  # one spectrum must not lose the others
                    result, error = _FAILED, caught
                now = time.perf_counter()
                if share is None:
                    asked = feed.first_request if feed.first_request is not None else called
                    share = (asked - called) / max(total, 1)
                    elapsed = now - asked
                else:
                    elapsed = now - resumed
                # bad input files, never handed out
                failures = [(s, problem, None) for s, problem in feed.take_rejected()] if feed.rejected else None
                if result is _FAILED and feed.last is not None:
                    failures = failures or []
                    failed = feed.last  # the spectrum it last asked for
                    key = contract.key(failed)
                    tried = attempts.get(key)
                    if tried is None and retries:
                        tried = attempts[key] = Attempts()
                    wait = None
                    if tried is not None:
                        tried.count += 1
                        tried.errors.append(f"{type(error).__name__}: {error}")
                        wait = policy.after_failure(tried.count, error)
                    if wait is not None:
                        again = failed
                        logger.warning("%s failed on try %d of %d: %s: %s; trying again in %.3g s", contract.name,
                                       tried.count, policy.tries, type(error).__name__, error, wait)
                        if contract.on_retry is not None:
                            contract.on_retry(failed, tried.count, error, wait)
                        sleep(wait)
                    else:
                        failures.append((failed, error, tried if tried is not None and tried.count > 1 else None))
                for spectrum, problem, tried in failures or ():
                    failure = make_failure(spectrum, problem, share, elapsed if spectrum is failed else None, tried)
                    if on_result is not None:
                        on_result(failure)
                    for stored in sink.add(failure):
                        yield stored
                    if re_raise_exceptions:
                        closed = True
                        for stored in sink.close():
                            yield stored
                        raise problem
                if result is _FAILED and failed is None:
                    raise error  # before it asked for any spectrum: no spectrum's fault
                if result is _DONE or result is _FAILED:
                    break
                accept(result, elapsed, share)
                if one_at_a_time:
                    feed.outstanding.clear()
                else:
                    spectrum = feed.answered(result)
                    if answered is not None and spectrum is not None:
                        answered(spectrum, result)
                if on_result is not None:
                    on_result(result)
                for stored in sink.add(result):
                    yield stored
                resumed = time.perf_counter()
            if failed is None:
                break
            feed = feed.restart(failed, again is not None)
            if not len(feed):
                break
        closed = True
        for stored in sink.close():
            yield stored
    finally:
        reading.close()
        if not closed:  # stopped early (an error, or the caller stopped iterating): keep the rows
            try:
                for stored in sink.close():
                    if isinstance(stored, Lost):
                        logger.error("%s: a result was not stored: %s", contract.name, stored.reason)
            except Exception:
                logger.exception("%s: could not store the last results", contract.name)
