"""Tests of astra.retry: the retry policy of transient errors, declared per method, run by tenacity."""

import glob
import os
import shutil

import pytest

from astra.retry import NO_RETRY, RetryPolicy, policy_of, retries


class Flaky:
    """Fails with ``error`` the first ``failures`` calls, then returns the number of calls."""

    def __init__(self, failures, error=OSError("Stale file handle")):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


def test_a_transient_error_is_tried_again_with_growing_waits():
    waits, retried = [], []
    flaky = Flaky(3)
    policy = RetryPolicy(tries=4, backoff=0.5, multiplier=3, max_wait=2.0)
    result, attempts = policy.call_counted(flaky, sleep=waits.append,
                                           on_retry=lambda n, error, wait: retried.append((n, str(error), wait)))
    assert result == 4 and flaky.calls == 4
    assert waits == [0.5, 1.5, 2.0]                              # backoff × multiplier^n, at most max_wait
    assert retried == [(1, "Stale file handle", 0.5), (2, "Stale file handle", 1.5), (3, "Stale file handle", 2.0)]
    assert attempts.count == 4 and attempts.retried and attempts.errors == ["OSError: Stale file handle"] * 3


def test_the_last_error_is_raised_with_the_attempts_when_every_try_fails():
    flaky = Flaky(5)
    with pytest.raises(OSError, match="Stale file handle") as raised:
        RetryPolicy(tries=3, backoff=0).call_counted(flaky, sleep=lambda s: None)
    assert flaky.calls == 3 and raised.value.astra_attempts.count == 3


def test_other_errors_are_not_retried():
    flaky = Flaky(1, ValueError("bad parameter"))
    with pytest.raises(ValueError, match="bad parameter") as raised:
        RetryPolicy(tries=5, backoff=0, exceptions=(OSError,)).call_counted(flaky)
    assert flaky.calls == 1 and raised.value.astra_attempts.count == 1
    assert not NO_RETRY.call_counted(Flaky(0))[1].retried


def test_the_run_loop_asks_the_same_decision_per_try():
    policy = RetryPolicy(tries=3, backoff=0.5, multiplier=3, exceptions=(OSError,))
    assert [policy.after_failure(n, OSError("x")) for n in (1, 2, 3)] == [0.5, 1.5, None]
    assert policy.after_failure(1, ValueError("not transient")) is None
    assert NO_RETRY.after_failure(1, OSError("x")) is None


def test_a_policy_can_keep_trying_for_a_time_instead_of_a_number_of_tries():
    import time

    flaky = Flaky(10 ** 6)
    start = time.monotonic()
    with pytest.raises(OSError):
        RetryPolicy(tries=10 ** 6, backoff=0.05, multiplier=1, within=0.3).call_counted(flaky)
    assert 0.3 <= time.monotonic() - start < 2 and 4 <= flaky.calls <= 12


def test_call_logs_each_retry(caplog):
    with caplog.at_level("WARNING", logger="astra"):
        assert RetryPolicy(tries=2, backoff=0).call(Flaky(1)) == 2
    assert "failed (try 1 of 2): OSError: Stale file handle; trying again in 0 s" in caplog.text


@pytest.mark.parametrize("kwargs, message", [
    (dict(tries=0), "tries must be a whole number of at least 1"),
    (dict(tries=1.5), "tries must be a whole number of at least 1"),
    (dict(backoff=-1), "backoff and max_wait must not be negative"),
    (dict(multiplier=0.5), "multiplier must be at least 1"),
    (dict(exceptions=("OSError",)), "exceptions must be exception types"),
])
def test_a_bad_policy_is_refused_when_declared(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


def test_each_method_style_declares_its_policy():
    from typing import Iterable

    from astra import task
    from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
    from astra.tasks import BaseTask
    from task_methods import MedianSNR

    @task
    @retries(tries=3, backoff=0.5, exceptions=(OSError, TimeoutError))
    def retried_snr(spectra: Iterable[ApogeeCoaddedSpectrumInApStar]) -> Iterable[MedianSNR]:
        yield from ()

    class RetriedTask(BaseTask):
        retry_policy = RetryPolicy(tries=2, backoff=1.0, exceptions=OSError)

    assert policy_of(retried_snr) == RetryPolicy(tries=3, backoff=0.5, exceptions=(OSError, TimeoutError))
    assert policy_of(RetriedTask) == RetryPolicy(tries=2, backoff=1.0, exceptions=(OSError,))
    assert policy_of(lambda: None) is NO_RETRY

    class Wrong(BaseTask):
        retry_policy = 3

    with pytest.raises(ValueError, match="retry_policy must be an astra.retry.RetryPolicy, not int"):
        policy_of(Wrong)


@pytest.mark.realdata
def test_reading_a_real_file_that_appears_late_is_retried(tmp_path):
    """An NFS mount that answers late: the first open fails with an OSError, the second reads the file."""
    from astropy.io import fits

    sas = os.environ.get("ASTRA_TEST_SAS")
    if not sas:
        pytest.skip("ASTRA_TEST_SAS is not set (the real SDSS files)")
    [source] = sorted(glob.glob(os.path.join(sas, "**", "apStar-*.fits"), recursive=True))[:1]
    path = tmp_path / os.path.basename(source)

    def read():
        with fits.open(path) as hdul:
            return hdul[1].data.shape

    def mount(attempt, error, wait):
        assert isinstance(error, FileNotFoundError)
        shutil.copyfile(source, path)

    shape, attempts = RetryPolicy(tries=3, backoff=0).call_counted(read, on_retry=mount)
    assert shape and attempts.count == 2
