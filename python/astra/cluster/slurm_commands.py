"""Running Slurm's client commands: one attempt, or retried with backoff; their ``Key=Value`` output.

Used by :mod:`astra.cluster.slurm` (submitting, following and cancelling jobs) and
:mod:`astra.cluster.slurm_arrays` (the elements of job arrays), so neither imports the other
for them.
"""

import re
import subprocess

from astra.retry import RetryPolicy

__all__ = ["SlurmError", "LOCAL_TIMEOUT", "NOT_FOUND", "CommandFailed", "run", "run_with_retry", "parse_key_values"]

#: What Slurm answers for a job id it no longer knows.
NOT_FOUND = "Invalid job id specified"


class SlurmError(RuntimeError):
    """A Slurm command failed (after retries, when the failure looked transient)."""


#: Our own timeout of a Slurm command (a read-only query may retry it; sbatch must not, as the
#: job may have been queued before the command was cut off).
LOCAL_TIMEOUT = "Socket timed out: {} did not answer within {}s (stopped by astra)"


def run(argv, env=None, timeout=60.0):
    """Run a Slurm client command once; a timeout is an answer (exit 124, :data:`LOCAL_TIMEOUT`).

    :raises SlurmError: when the command is not on ``PATH``.
    """
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except FileNotFoundError as exc:
        raise SlurmError("{} not found on PATH; is Slurm installed?".format(argv[0])) from exc
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", LOCAL_TIMEOUT.format(argv[0], timeout))


class CommandFailed(Exception):
    """A Slurm command's failure worth another try (carries the completed process)."""

    def __init__(self, result):
        super().__init__((result.stderr or result.stdout or "").strip())
        self.result = result


def run_with_retry(argv, env=None, attempts=5, backoff=0.5, timeout=60.0, not_found_ok=False):
    """Run a Slurm client command, retrying failures with exponential backoff (:mod:`astra.retry`).

    :returns: the completed process (with ``returncode == 0``, or a "not found" answer
        when ``not_found_ok``).
    :raises SlurmError: when it still fails after ``attempts`` tries.
    """
    def attempt():
        result = run(argv, env=env, timeout=timeout)
        if result.returncode == 0 or (not_found_ok and NOT_FOUND in (result.stderr or "") + (result.stdout or "")):
            return result
        raise CommandFailed(result)

    attempts = max(1, int(attempts))
    try:
        return RetryPolicy(tries=attempts, backoff=backoff, exceptions=(CommandFailed,)).call_counted(attempt)[0]
    except CommandFailed as failed:
        result = failed.result
        raise SlurmError("{} failed (exit {}) after {} attempt(s): {}".format(
            " ".join(argv[:3]), result.returncode, attempts, (result.stderr or result.stdout).strip())) from None


def parse_key_values(text):
    """Parse ``scontrol show job -o`` / jobcomp lines into dicts of their ``Key=Value``."""
    return dict(re.findall(r"(\w+)=(\S*)", text))
