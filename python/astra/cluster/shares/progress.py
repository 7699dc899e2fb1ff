"""Following ``astra srun <task> <SpectrumModel>``: results per share, Slurm states, the summary.

While the jobs run, :func:`follow` asks once a second

* the database, how many of each share's spectra have an up-to-date result now (one ``GROUP
  BY`` query of the pending spectra by share -- the same
  :func:`~astra.tasks.function_runner.pending_query` that found them, classed by a binary
  search over the ranges written as nested ``CASE`` -- and the keys of the results flagged
  ``flag_runtime_exception`` since the submission; the final count is exact, over the keys
  that were shared out);
* Slurm, the state of each job (:func:`astra.cluster.slurm.job_status`).

On a terminal it redraws a small table in place; otherwise (a log file, a pipe) it prints one
plain line when the counts or states change, at most every :data:`LOG_INTERVAL` seconds, so a
log gets no control characters and no flood. When every job has ended it prints the final
:class:`~astra.tasks.summary.BuildSummary` (per spectrum: done, failed with the reason, not
run and why) and the jobs that did not complete, with their log files.

Progress counts results in the database: a process writes them every
``database_write_batch_size`` results (or every few minutes), so the counts move in steps.
"""

import bisect
import dataclasses
import datetime
import os
import shutil
import sys
import time

import peewee

from astra.cluster import slurm
from astra.tasks.summary import BuildSummary
from astra.tasks.function_runner import pending_query
from astra.models.pipeline import major_minor

__all__ = ["ShareCount", "ShareProgress", "follow", "render_table", "render_line", "LOG_INTERVAL"]

#: Seconds between two progress lines when the output is not a terminal.
LOG_INTERVAL = 10.0
#: Most shares listed one per line on a terminal; more are listed per job.
MAX_SHARE_LINES = 16
#: Most jobs named in a plain progress line; more are counted by state.
MAX_JOBS_NAMED = 8
#: Seconds subtracted from the submission time when telling new failures from earlier ones
#: (clocks of the nodes and of this machine may differ a little).
CLOCK_SLACK = 5.0


@dataclasses.dataclass
class ShareCount:
    """What one share has done so far.

    :param index: the share's position.
    :param lo: its smallest ``spectrum_pk``.
    :param hi: its largest ``spectrum_pk``.
    :param total: spectra in the share.
    :param done: of those, with an up-to-date result that is not a failure.
    :param failed: of those, with a result flagged ``flag_runtime_exception`` written since
        the submission.
    :param job_id: the Slurm job that runs it.
    :param state: that job's state.
    """

    index: int
    lo: int
    hi: int
    total: int
    done: int = 0
    failed: int = 0
    job_id: str = ""
    state: str = ""


class ShareProgress:
    """Counts, from the database, what the processes of a submission have written.

    :param function: the :class:`~astra.tasks.function.TaskFunction` being run.
    :param model_name: the catalogue model's name.
    :param shares: ``(SpectrumShare, job_id)`` pairs of the non-empty shares.
    :param keys: every ``spectrum_pk`` that was shared out (the submission's query).
    :param where: the ``--where`` condition of the run.
    :param submitted: when the jobs were submitted (UTC, naive, as results store it).
    """

    def __init__(self, function, model_name, shares, keys, where=None, submitted=None):
        self.function = function
        self.model_name = model_name
        self.shares = sorted(shares, key=lambda pair: pair[0].lo)
        self.keys = frozenset(keys)
        self.where = where
        self.submitted = submitted or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        self._starts = [share.lo for share, _ in self.shares]
        self.failures = []  # (spectrum_pk, error) of the failed spectra, from the last exact poll

    @property
    def total(self):
        """The number of spectra shared out."""
        return sum(share.count for share, _ in self.shares)

    def _share_at(self, spectrum_pk):
        """The position of the share whose range holds ``spectrum_pk``, or ``None``."""
        position = bisect.bisect_right(self._starts, spectrum_pk) - 1
        return position if position >= 0 and self.shares[position][0].contains(spectrum_pk) else None

    def _share_of(self, spectrum_pk):
        """The position of the share that holds ``spectrum_pk`` (one that was shared out), or ``None``."""
        return self._share_at(spectrum_pk) if spectrum_pk in self.keys else None

    def poll(self, states=None, exact=False):
        """Count every share's results now.

        The quick count (the default, for the live display) is one ``GROUP BY`` query of the
        pending spectra by share and one list of the keys flagged since the submission. A
        spectrum of a range that became pending after the submission (its file changed) counts
        against its share there. The exact count (``exact=True``, for the summary) reads the
        keys and keeps only those that were shared out, and lists the failures with their error.

        :param states: ``{job_id: state}`` from Slurm (``None``: leave the states empty).
        :param exact: count exactly, and fill :attr:`failures`.
        :returns: a list of :class:`ShareCount`, in key order.
        """
        counts = [ShareCount(share.index, share.lo, share.hi, share.count, job_id=str(job_id),
                             state=(states or {}).get(str(job_id), ""))
                  for share, job_id in self.shares]
        if not counts:
            return counts
        left, failed = self._exact() if exact else self._counted()
        for position, count in enumerate(counts):
            count.failed = min(failed.get(position, 0), count.total)
            count.done = max(0, count.total - left.get(position, 0))
        return counts

    def _span(self):
        return self.shares[0][0].lo, max(share.hi for share, _ in self.shares)

    def _pending(self):
        _, query = pending_query(self.function, self.model_name, where=self.where, retry_failed=True,
                                 spectrum_pk_ranges=[self._span()])
        return query

    def _failures(self):
        output = self.function.output_model
        since = self.submitted - datetime.timedelta(seconds=CLOCK_SLACK)
        return (
            output.select()
            .where(output.spectrum_pk.between(*self._span()))
            .where(output.v_astra_major_minor == major_minor())
            .where(output.flag_runtime_exception)
            .where(output.modified >= since)
        )

    def _share_case(self, column, first=0, last=None):
        """SQL: the position of the share whose range holds ``column`` (NULL outside every range).

        A binary search written as nested ``CASE``: about log2(shares) comparisons per row.
        """
        last = len(self.shares) - 1 if last is None else last
        if first == last:
            share = self.shares[first][0]
            return peewee.Case(None, [(column.between(share.lo, share.hi), first)], None)
        middle = (first + last) // 2
        return peewee.Case(None, [(column <= self.shares[middle][0].hi, self._share_case(column, first, middle))],
                           self._share_case(column, middle + 1, last))

    def _counted(self):
        """``({position: pending}, {position: failed})``: one ``GROUP BY`` query over the pending
        spectra of every range (one scan, where a ``COUNT`` per range may scan the table once each)
        and one list of the flagged keys."""
        model, output = self.function.input_model(self.model_name), self.function.output_model
        position = self._share_case(model.spectrum_pk).alias("share_position")
        query = (self._pending().select(position, peewee.fn.COUNT(peewee.SQL("*"))).order_by()
                 .group_by(peewee.SQL("share_position")))
        left = {index: n for index, n in query.tuples() if index is not None}
        failed = {}
        for (key,) in self._failures().select(output.spectrum_pk).tuples():
            index = self._share_at(key)
            if index is not None:
                failed[index] = failed.get(index, 0) + 1
        return left, failed

    def _exact(self):
        model, output = self.function.input_model(self.model_name), self.function.output_model
        left, failed = {}, {}
        for (key,) in self._pending().select(model.spectrum_pk).tuples():
            position = self._share_of(key)
            if position is not None:
                left[position] = left.get(position, 0) + 1
        self.failures = []
        for key, error in self._failures().select(output.spectrum_pk, output.error).order_by(output.spectrum_pk).tuples():
            position = self._share_of(key)
            if position is not None:
                failed[position] = failed.get(position, 0) + 1
                self.failures.append((key, error))
        return left, failed

    def summary(self, counts):
        """The per-spectrum :class:`~astra.tasks.summary.BuildSummary` of the counts.

        A spectrum without a result is "not run", with its job's state as the reason.

        :param counts: from :meth:`poll` with ``exact=True``, after the jobs ended.
        """
        summary = BuildSummary(success=False, tasks=len(counts))
        for key, error in self.failures:
            summary.add_failure(f"{self.function.name} spectrum_pk={key}", error or "flag_runtime_exception")
        for count in counts:
            summary.done += count.done
            left = count.total - count.done - count.failed
            if left:
                state = count.state or "UNKNOWN"
                reason = (f"its job {count.job_id} ended {state}" if state.split()[0] != "COMPLETED"
                          else f"its job {count.job_id} completed without writing a result")
                summary.add_not_run(left, reason)
        summary.success = summary.n_failed == 0 and summary.not_run == 0
        return summary


def render_table(counts, header):
    """The lines shown on a terminal: one per share (or per job, or job array, when there are many), a total.

    :param counts: :class:`ShareCount` list.
    :param header: the first line.
    :returns: a list of lines.
    """
    lines = [header]
    if len(counts) <= MAX_SHARE_LINES:
        lines.append(f"  {'share':>5}  {'spectrum_pk':<21}  {'done':>15}  {'failed':>6}  job")
        for c in counts:
            lines.append(f"  {c.index:>5}  {f'{c.lo}..{c.hi}':<21}  {_fraction(c.done, c.total):>15}  "
                         f"{c.failed:>6}  {c.job_id} {c.state}")
    else:
        lines.append(f"  {'job':>10}  {'shares':>6}  {'done':>15}  {'failed':>6}  state")
        by_job = {}
        for c in counts:  # the elements of a job array ("51_0", "51_1", ...) on one line
            by_job.setdefault(c.job_id.partition("_")[0], []).append(c)
        for job_id, mine in by_job.items():
            states = {}
            for c in mine:
                states[c.state] = states.get(c.state, 0) + 1
            state = mine[0].state if len(mine) == 1 or "_" not in mine[0].job_id else \
                ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
            lines.append(f"  {job_id:>10}  {len(mine):>6}  "
                         f"{_fraction(sum(c.done for c in mine), sum(c.total for c in mine)):>15}  "
                         f"{sum(c.failed for c in mine):>6}  {state}")
    done, total = sum(c.done for c in counts), sum(c.total for c in counts)
    lines.append(f"  {'total':>5}  {'':<21}  {_fraction(done, total):>15}  {sum(c.failed for c in counts):>6}")
    return lines


def render_line(counts, elapsed):
    """One plain progress line (for logs): totals and each job's state.

    :param counts: :class:`ShareCount` list.
    :param elapsed: seconds since the submission.
    :returns: e.g. ``[0:01:15] 6/10 spectra done, 1 failed; jobs: 7 RUNNING`` (more than
        :data:`MAX_JOBS_NAMED` jobs are counted by state: ``jobs: 90 COMPLETED, 10 RUNNING``).
    """
    done, total = sum(c.done for c in counts), sum(c.total for c in counts)
    jobs = dict((c.job_id, c.state) for c in counts)
    if len(jobs) <= MAX_JOBS_NAMED:
        states = ", ".join(f"{job_id} {state}" for job_id, state in jobs.items())
    else:
        by_state = {}
        for state in jobs.values():
            by_state[state] = by_state.get(state, 0) + 1
        states = ", ".join(f"{n} {state}" for state, n in sorted(by_state.items()))
    return (f"[{_clock(elapsed)}] {done}/{total} spectra done, {sum(c.failed for c in counts)} failed; "
            f"jobs: {states or 'none'}")


def _fraction(done, total):
    percent = 100.0 * done / total if total else 100.0
    return f"{done}/{total} {percent:3.0f}%"


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Screen:
    """Writes progress to ``stream``: redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, stream, tty=None):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._drawn = 0
        self._last_line = None
        self._last_time = None

    def show(self, counts, header, elapsed, force=False):
        if self.tty:
            width = max(20, shutil.get_terminal_size().columns - 1)  # a wrapped line would break the redraw
            lines = [line[:width] for line in render_table(counts, f"[{_clock(elapsed)}] {header}")]
            erase = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
            self.stream.write(erase + "\n".join(lines) + "\n")
            self._drawn = len(lines)
        else:
            line = render_line(counts, elapsed)
            key = line.split("] ", 1)[1]
            now = time.monotonic()
            due = self._last_time is None or now - self._last_time >= LOG_INTERVAL
            if force or (key != self._last_line and due):
                self.stream.write(line + "\n")
                self._last_line, self._last_time = key, now
        self.stream.flush()


def follow(progress, job_ids, header, poll=1.0, stream=None, tty=None, jobs_dir=None):
    """Show the progress of the jobs until every one has ended; print and return the summary.

    :param progress: a :class:`ShareProgress`.
    :param job_ids: the submitted job ids.
    :param header: the first line of the display (what runs).
    :param poll: seconds between two looks at the database and Slurm (a look that takes longer
        than that is followed by a pause as long as itself).
    :param stream: where to write (default ``sys.stdout``).
    :param tty: redraw in place (default: whether ``stream`` is a terminal).
    :param jobs_dir: the jobs directory, to name the logs of jobs that did not complete.
    :returns: ``(summary, states)``: the :class:`~astra.tasks.summary.BuildSummary` and the
        jobs' final ``{job_id: state}``.
    :raises peewee.DatabaseError: when the database cannot be read at the first or the last
        look (in between, a failed look is reported and the next one tried).
    :raises astra.cluster.SlurmError: when Slurm does not answer (after its retries).
    """
    stream = stream or sys.stdout
    screen = _Screen(stream, tty)
    if not screen.tty:
        stream.write(header + "\n")
    started = time.monotonic()
    counts = None
    ended = {}  # jobs that have ended keep their state: Slurm is not asked about them again
    while True:
        look = time.monotonic()
        asked = [job_id for job_id in job_ids if job_id not in ended]
        states = {**ended, **(slurm.job_status(asked) if asked else {})}
        ended.update((j, s) for j, s in states.items() if s.split()[0] not in slurm.ACTIVE_STATES)
        active = any(state.split()[0] in slurm.ACTIVE_STATES for state in states.values())
        try:
            counts = progress.poll(states, exact=not active)  # the last count is the exact one
        except peewee.DatabaseError as error:  # the database is busy or away for a moment
            if counts is None or not active:
                raise
            print(f"astra srun: cannot count the results now ({error}); trying again", file=sys.stderr)
            for count in counts:
                count.state = states.get(count.job_id, count.state)
        screen.show(counts, header, time.monotonic() - started, force=not active)
        if not active:
            break
        spent = time.monotonic() - look
        time.sleep(max(poll - spent, spent))  # a slow look (a huge catalogue) keeps the database half idle
    summary = progress.summary(counts)
    stream.write(f"{progress.function.name}: {progress.total} spectra in {len(counts)} shares; {summary}\n")
    for job_id, state in states.items():
        if state.split()[0] != "COMPLETED":
            log = _job_log(jobs_dir, job_id)
            stream.write(f"  job {job_id} ended {state}" + (f"; its log: {log}" if log else "") + "\n")
    stream.flush()
    return summary, states


def _job_log(jobs_dir, job_id):
    """The ``<name>-<job id>.out`` log of a job in ``jobs_dir``, or ``None``."""
    if not jobs_dir or not os.path.isdir(jobs_dir):
        return None
    suffix = f"-{job_id}.out"
    for name in sorted(os.listdir(jobs_dir)):
        if name.endswith(suffix):
            return os.path.join(jobs_dir, name)
    return None
