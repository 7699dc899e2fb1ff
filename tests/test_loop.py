"""The one run loop (astra.core.loop) on its own: restarts, per-spectrum retries, the started hook."""

from astra.core.loop import Contract, run_loop
from astra.core.sinks import MemorySink
from astra.retry import RetryPolicy


class Failure:
    def __init__(self, spectrum, error, attempts):
        self.spectrum, self.error, self.attempts = spectrum, error, attempts


def _contract(started):
    def failure(spectrum, error, share, elapsed, attempts):
        return Failure(spectrum, error, attempts)

    return Contract("double", failure, key=lambda s: s, result_key=lambda r: r // 2,
                    accept=lambda result, elapsed, share: None, on_started=started.append)


def _method(raises):
    """Doubles each spectrum; ``raises[s]`` errors are raised (in order) on spectrum ``s`` first."""
    calls = []

    def method(feed):
        calls.append(len(feed))
        for spectrum in feed:
            if raises.get(spectrum):
                raise raises[spectrum].pop(0)
            yield spectrum * 2

    return method, calls


def test_a_transient_error_retries_that_spectrum_first_and_only_it():
    started, waits = [], []
    method, calls = _method({3: [OSError("nfs"), OSError("nfs")]})
    policy = RetryPolicy(tries=3, backoff=0.25, exceptions=(OSError,))
    out = list(run_loop(method, [1, 2, 3, 4, 5], _contract(started), MemorySink(), policy=policy, sleep=waits.append))
    assert out == [2, 4, 6, 8, 10]
    assert started == [1, 2, 3, 3, 3, 4, 5]  # the "spectrum started" hook; only 3 is tried again
    assert waits == [0.25, 0.5] and calls == [5, 3, 3]


def test_the_last_try_fails_the_spectrum_with_its_attempts_and_the_others_go_on():
    method, _ = _method({2: [OSError("a"), OSError("b"), OSError("c")], 4: [ValueError("not transient")]})
    policy = RetryPolicy(tries=3, backoff=0, exceptions=(OSError,))
    out = list(run_loop(method, [1, 2, 3, 4, 5], _contract([]), MemorySink(), policy=policy, sleep=lambda s: None))
    assert [r for r in out if isinstance(r, int)] == [2, 6, 10]
    failed = {f.spectrum: f for f in out if isinstance(f, Failure)}
    assert str(failed[2].error) == "c" and failed[2].attempts.errors == ["OSError: a", "OSError: b", "OSError: c"]
    assert failed[4].attempts is None  # another type: tried once
