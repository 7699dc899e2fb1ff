"""Retries of transient errors: one policy, declared per method, one implementation (tenacity).

A :class:`RetryPolicy` says how many times to try, how long to wait between tries (exponential
backoff: ``backoff``, ``backoff × multiplier``, ... at most ``max_wait``) and which exception
types are transient: an ``OSError`` reading a file over NFS is the example. Anything else fails
at once. The waiting and counting are `tenacity <https://tenacity.readthedocs.io>`_'s, which
Luigi already depends on.

A method declares its policy once, and the run engine applies it to each spectrum
(:func:`policy_of` finds it)::

    from astra.retry import RetryPolicy, retries

    @task
    @retries(tries=3, backoff=0.5, exceptions=(OSError,))
    def median_snr(spectra: Iterable[ApogeeVisitSpectrum]) -> Iterable[MedianSNR]:
        ...

    class EstimateSNR(BaseTask):
        retry_policy = RetryPolicy(tries=3, backoff=0.5, exceptions=(OSError,))

Astra's own transient operations use it too: downloads from the SAS
(:func:`astra.tasks.io.download.download`) and the Slurm client commands
(:mod:`astra.cluster.slurm`).

:meth:`RetryPolicy.call` returns the result; :meth:`RetryPolicy.call_counted` also returns the
:class:`Attempts` made (each failed try's error), so that a run can count the spectra that
needed a retry and show the attempts of one that failed for good.
"""

import dataclasses
import logging
import time

import tenacity

__all__ = ["RetryPolicy", "Attempts", "NO_RETRY", "retries", "policy_of", "POLICY_ATTRIBUTE", "with_attempts"]

logger = logging.getLogger("astra")

#: The attribute of a method (function or task class) that holds its :class:`RetryPolicy`.
POLICY_ATTRIBUTE = "retry_policy"


@dataclasses.dataclass
class Attempts:
    """What the tries of one call did.

    :param count: tries made (1 when the first succeeded).
    :param errors: the error of each failed try, as ``"<Type>: <message>"``, in order.
    """

    count: int = 0
    errors: list = dataclasses.field(default_factory=list)

    @property
    def retried(self):
        """Whether more than one try was made."""
        return self.count > 1


def with_attempts(reason, attempts):
    """A failure's reason followed by the tries that came before it.

    :param reason: ``"Type: message"`` of the last try.
    :param attempts: an :class:`Attempts`, or ``None`` (tried once: ``reason`` unchanged).
    :returns: e.g. ``"OSError: stale handle (after 3 tries: OSError: ...; OSError: ...; OSError: ...)"``.
    """
    if attempts is None or attempts.count < 2:
        return reason
    return f"{reason} (after {attempts.count} tries: {'; '.join(attempts.errors)})"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How to retry an operation whose errors may be transient.

    :param tries: tries in all, at least 1 (1: no retry).
    :param backoff: seconds to wait before the second try.
    :param multiplier: each later wait is the one before times this (at least 1).
    :param max_wait: the longest wait, in seconds.
    :param exceptions: the exception types that are retried; others are raised at once.
    :param within: also stop once this many seconds have passed since the first try (``None``:
        only ``tries`` limits it): for "keep trying for N seconds", with ``tries`` large.
    """

    tries: int = 1
    backoff: float = 1.0
    multiplier: float = 2.0
    max_wait: float = 60.0
    exceptions: tuple = (OSError,)
    within: float = None

    def __post_init__(self):
        exceptions = self.exceptions
        if isinstance(exceptions, type):
            exceptions = (exceptions,)
        object.__setattr__(self, "exceptions", tuple(exceptions))
        if int(self.tries) != self.tries or self.tries < 1:
            raise ValueError(f"retry policy: tries must be a whole number of at least 1, not {self.tries!r}")
        if self.backoff < 0 or self.max_wait < 0:
            raise ValueError(f"retry policy: backoff and max_wait must not be negative "
                             f"({self.backoff!r}, {self.max_wait!r})")
        if self.within is not None and self.within < 0:
            raise ValueError(f"retry policy: within must not be negative, not {self.within!r}")
        if self.multiplier < 1:
            raise ValueError(f"retry policy: multiplier must be at least 1, not {self.multiplier!r}")
        for kind in self.exceptions:
            if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                raise ValueError(f"retry policy: exceptions must be exception types, not {kind!r}")

    def wait(self, attempt):
        """Seconds to wait after failed try number ``attempt`` (from 1).

        :param attempt: the try that failed.
        """
        return min(self.max_wait, self.backoff * self.multiplier ** (attempt - 1))

    def after_failure(self, attempt, error):
        """Whether to try again after try number ``attempt`` failed with ``error``, and when.

        The decision of :meth:`retrying`, for a loop that makes its own tries (the run loop
        retries one spectrum by calling the method again: :mod:`astra.core.loop`). It asks the
        same tenacity strategies.

        :param attempt: the try that failed (from 1).
        :param error: its exception.
        :returns: the seconds to wait before the next try, or ``None``: do not try again.
        """
        state = tenacity.RetryCallState(None, None, (), {})
        state.attempt_number = attempt
        state.set_exception((type(error), error, error.__traceback__))
        if not self._retry_strategy()(state) or self._stop_strategy()(state):
            return None
        return self.wait(attempt)

    def _retry_strategy(self):
        return tenacity.retry_if_exception_type(self.exceptions)

    def _stop_strategy(self):
        stop = tenacity.stop_after_attempt(int(self.tries))
        return stop if self.within is None else stop | tenacity.stop_after_delay(self.within)

    def retrying(self, on_retry=None, sleep=time.sleep):
        """A :class:`tenacity.Retrying` that follows this policy and re-raises the last error.

        :param on_retry: called as ``on_retry(attempt, error, wait)`` before each wait.
        :param sleep: the function that waits (for tests: one that does not).
        """
        def before_sleep(state):
            error = state.outcome.exception()
            wait = state.next_action.sleep if state.next_action else 0.0
            if on_retry is not None:
                on_retry(state.attempt_number, error, wait)

        return tenacity.Retrying(
            stop=self._stop_strategy(),
            wait=lambda state: self.wait(state.attempt_number),
            retry=self._retry_strategy(),
            before_sleep=before_sleep,
            reraise=True,
            sleep=sleep,
        )

    def call_counted(self, function, *args, on_retry=None, sleep=time.sleep, **kwargs):
        """Call ``function(*args, **kwargs)`` under this policy.

        :param function: the operation.
        :param on_retry: called as ``on_retry(attempt, error, wait)`` before each wait.
        :param sleep: the function that waits.
        :returns: ``(result, Attempts)``.
        :raises: the last error when every try failed, or at once an error of another type; its
            ``astra_attempts`` attribute holds the :class:`Attempts`.
        """
        attempts = Attempts()

        def attempt():
            attempts.count += 1
            try:
                return function(*args, **kwargs)
            except BaseException as error:
                attempts.errors.append(f"{type(error).__name__}: {error}")
                raise

        try:
            result = self.retrying(on_retry=on_retry, sleep=sleep)(attempt)
        except BaseException as error:
            try:
                error.astra_attempts = attempts
            except AttributeError:  # an exception type with __slots__
                pass
            raise
        return result, attempts

    def call(self, function, *args, on_retry=None, **kwargs):
        """Call ``function(*args, **kwargs)`` under this policy; return its result.

        :param function: the operation.
        :param on_retry: called as ``on_retry(attempt, error, wait)`` before each wait; by default
            each retry is logged as a warning.
        :raises: as :meth:`call_counted`.
        """
        if on_retry is None:
            name = getattr(function, "__qualname__", repr(function))

            def on_retry(attempt, error, wait):
                logger.warning("%s failed (try %d of %d): %s: %s; trying again in %.3g s",
                               name, attempt, self.tries, type(error).__name__, error, wait)
        return self.call_counted(function, *args, on_retry=on_retry, **kwargs)[0]


#: The policy of a method that declares none: one try.
NO_RETRY = RetryPolicy(tries=1)


def retries(tries=3, backoff=1.0, exceptions=(OSError,), multiplier=2.0, max_wait=60.0):
    """Declare the retry policy of a method (a ``@task`` function or a task class).

    :param tries: tries in all.
    :param backoff: seconds before the second try.
    :param exceptions: the exception types that are retried.
    :param multiplier: growth of the wait per try.
    :param max_wait: the longest wait in seconds.
    :returns: a decorator that sets the method's :data:`POLICY_ATTRIBUTE` and returns it.
    :raises ValueError: for an invalid policy (at declaration, not at run time).
    """
    policy = RetryPolicy(tries=tries, backoff=backoff, multiplier=multiplier, max_wait=max_wait,
                         exceptions=exceptions)

    def declare(method):
        setattr(method, POLICY_ATTRIBUTE, policy)
        return method

    return declare


def policy_of(method):
    """The retry policy a method declared (:func:`retries`, or a ``retry_policy`` attribute), else :data:`NO_RETRY`.

    Looks at the method and at what it wraps (``__wrapped__``, a task function's ``function``).

    :param method: a function, a ``@task`` method or a task class (or instance).
    :returns: a :class:`RetryPolicy`.
    :raises ValueError: when the attribute holds something else than a :class:`RetryPolicy`.
    """
    seen = set()
    while method is not None and id(method) not in seen:
        seen.add(id(method))
        policy = getattr(method, POLICY_ATTRIBUTE, None)
        if policy is not None:
            if not isinstance(policy, RetryPolicy):
                raise ValueError(f"{getattr(method, '__qualname__', method)!r}.{POLICY_ATTRIBUTE} must be an "
                                 f"astra.retry.RetryPolicy, not {type(policy).__name__}")
            return policy
        method = getattr(method, "__wrapped__", None) or getattr(method, "function", None)
    return NO_RETRY
