"""Tests of astra.cluster.shares.progress: counting a submission's results per share, and showing them."""

import datetime
import io

from astra.cluster.shares import progress as share_progress
from astra.cluster.shares.progress import ShareProgress, render_line, render_table
from astra.cluster.shares import split_spectrum_pks
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from task_methods import MedianSNR, median_snr
from test_classify import catalogue  # noqa: F401 (the fixture: spectra of known temperature)
from test_task import migrate, write_spectra

MODEL = "ApogeeCoaddedSpectrumInApStar"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _progress(keys, n_shares, submitted=None):
    shares = split_spectrum_pks(keys, n_shares)
    pairs = [(share, str(100 + share.index)) for share in shares if not share.empty]
    return ShareProgress(median_snr, MODEL, pairs, keys, submitted=submitted)


def test_counts_per_share_failures_and_summary(db_url, tmp_path):
    paths = write_spectra(tmp_path / "sas", 6)
    catalogue = migrate(tmp_path / "sas")
    keys = [r.spectrum_pk for r in catalogue]
    done_before = keys[2]
    list(median_snr(Star.select().where(Star.spectrum_pk == done_before)))
    pending = [k for k in keys if k != done_before]      # what the submission shared out
    progress = _progress(pending, 2)
    counts = progress.poll({"100": "RUNNING", "101": "PENDING"})
    assert [(c.lo, c.hi, c.total, c.done, c.failed, c.job_id, c.state) for c in counts] == [
        (keys[0], keys[3], 3, 0, 0, "100", "RUNNING"), (keys[4], keys[5], 2, 0, 0, "101", "PENDING")]

    broken = Star.get_by_id(keys[1])
    open(broken.path, "wb").close()
    first_share = Star.select().where(Star.spectrum_pk.between(keys[0], keys[3]))
    list(median_snr(first_share))                         # share 0 runs; one of its spectra fails
    quick = progress.poll({"100": "COMPLETED", "101": "CANCELLED"})
    counts = progress.poll({"100": "COMPLETED", "101": "CANCELLED"}, exact=True)
    assert [(c.done, c.failed) for c in counts] == [(c.done, c.failed) for c in quick] == [(2, 1), (0, 0)]
    assert progress.failures[0][0] == keys[1] and "empty file" in progress.failures[0][1]
    summary = progress.summary(counts)
    assert not summary.success
    assert (summary.done, summary.n_failed, summary.not_run) == (2, 1, 2)
    assert summary.not_run_reasons == {"its job 101 ended CANCELLED": 2}
    assert f"median_snr spectrum_pk={keys[1]}" in str(summary)

    # a failure written before the submission is not this run's
    later = _progress(pending, 2, submitted=_now() + datetime.timedelta(seconds=60))
    assert [(c.done, c.failed) for c in later.poll()] == [(2, 0), (0, 0)]
    assert [(c.done, c.failed) for c in later.poll(exact=True)] == [(2, 0), (0, 0)]
    assert len(paths) == 6


def test_a_spectrum_pending_again_inside_a_range_counts_only_in_the_quick_count(db_url, tmp_path):
    """The exact count keeps to the keys that were shared out; the quick one counts the range."""
    write_spectra(tmp_path / "sas", 4)
    keys = [r.spectrum_pk for r in migrate(tmp_path / "sas")]
    list(median_snr(Star.select().where(Star.spectrum_pk == keys[1])))
    shared = [keys[0], keys[2], keys[3]]                 # keys[1] was up to date at the submission
    progress = _progress(shared, 1)
    list(median_snr(Star.select().where(Star.spectrum_pk.in_(shared))))
    MedianSNR.delete().where(MedianSNR.spectrum_pk == keys[1]).execute()   # now pending again
    assert [c.done for c in progress.poll()] == [2]
    assert [c.done for c in progress.poll(exact=True)] == [3]


def test_render_table_and_line():
    shares = split_spectrum_pks(range(1, 11), 2)
    counts = [share_progress.ShareCount(s.index, s.lo, s.hi, s.count, done=d, failed=f, job_id="7", state="RUNNING")
              for s, d, f in zip(shares, (5, 1), (0, 1))]
    table = render_table(counts, "header")
    assert table[0] == "header" and "1..5" in table[2] and "5/5 100%" in table[2] and table[3].endswith("7 RUNNING")
    assert "6/10  60%" in table[-1]
    assert render_line(counts, 75) == "[0:01:15] 6/10 spectra done, 1 failed; jobs: 7 RUNNING"
    many = [share_progress.ShareCount(i, i, i, 1, job_id=str(i // 4), state="RUNNING" if i < 8 else "PENDING")
            for i in range(40)]
    per_job = render_table(many, "h")
    assert len(per_job) == 2 + 10 + 1                     # one line per job when there are many shares
    assert render_line(many, 0).endswith("jobs: 8 PENDING, 2 RUNNING")   # many jobs: counted by state
    elements = [share_progress.ShareCount(i, i, i, 1, done=i < 3, job_id=f"51_{i}",
                                          state="COMPLETED" if i < 3 else "RUNNING" if i < 5 else "PENDING")
                for i in range(40)]
    per_array = render_table(elements, "h")               # a job array's elements: one line, states counted
    assert len(per_array) == 2 + 1 + 1 and per_array[2].split()[:2] == ["51", "40"]
    assert per_array[2].endswith("3 COMPLETED, 35 PENDING, 2 RUNNING") and "3/40" in per_array[2]


def test_screen_without_a_terminal_prints_plain_throttled_lines(monkeypatch):
    counts = [share_progress.ShareCount(0, 1, 2, 2, job_id="7", state="RUNNING")]
    stream = io.StringIO()
    screen = share_progress._Screen(stream, tty=False)
    screen.show(counts, "h", 0)
    screen.show(counts, "h", 1)                           # unchanged: nothing
    counts[0].done = 1
    screen.show(counts, "h", 2)                           # changed, but within LOG_INTERVAL
    assert stream.getvalue().count("\n") == 1
    monkeypatch.setattr(share_progress, "LOG_INTERVAL", 0.0)
    screen.show(counts, "h", 3)
    screen.show(counts, "h", 4, force=True)               # the last line is always printed
    lines = stream.getvalue().splitlines()
    assert lines == ["[0:00:00] 0/2 spectra done, 0 failed; jobs: 7 RUNNING",
                     "[0:00:03] 1/2 spectra done, 0 failed; jobs: 7 RUNNING",
                     "[0:00:04] 1/2 spectra done, 0 failed; jobs: 7 RUNNING"]
    assert "\x1b" not in stream.getvalue()


def test_screen_on_a_terminal_redraws_in_place():
    counts = [share_progress.ShareCount(0, 1, 2, 2, job_id="7", state="RUNNING")]
    stream = io.StringIO()
    screen = share_progress._Screen(stream, tty=True)
    screen.show(counts, "h", 0)
    first = stream.getvalue()
    assert "\x1b" not in first and first.count("\n") == 4
    screen.show(counts, "h", 1)
    assert stream.getvalue()[len(first):].startswith("\x1b[4F\x1b[J")


def test_counts_of_a_downstream_method(catalogue):
    """The pending query of a method with an upstream (joined to its results) counts the same way."""
    from astra.contrib.classify import continuum_teff, hot_cool
    from astra.tasks.function_runner import pending_keys

    list(hot_cool(Star.select()))
    _, keys = pending_keys(continuum_teff, MODEL)
    assert keys == sorted(k for k, teff in catalogue.items() if teff > 5000)
    shares = split_spectrum_pks(keys, 3)
    progress = ShareProgress(continuum_teff, MODEL, [(s, "9") for s in shares], keys)
    assert [c.done for c in progress.poll()] == [c.done for c in progress.poll(exact=True)] == [0, 0, 0]
    list(continuum_teff(Star.select().where(Star.spectrum_pk.between(shares[0].lo, shares[0].hi))))
    assert [c.done for c in progress.poll()] == [c.done for c in progress.poll(exact=True)] == [shares[0].count, 0, 0]


def test_quick_and_exact_counts_agree_for_any_number_of_shares(db_url, tmp_path):
    """The nested CASE (a binary search over the ranges) classes every spectrum as the exact count does."""
    write_spectra(tmp_path / "sas", 7)
    keys = [r.spectrum_pk for r in migrate(tmp_path / "sas")]
    list(median_snr(Star.select().where(Star.spectrum_pk.in_(keys[::3]))))
    pending = [k for i, k in enumerate(keys) if i % 3]     # what a submission shared out
    list(median_snr(Star.select().where(Star.spectrum_pk.in_(pending[::2]))))  # some of them are done
    for n_shares in range(1, 8):
        progress = _progress(pending, n_shares)
        quick, exact = progress.poll(), progress.poll(exact=True)
        assert [(c.lo, c.done) for c in quick] == [(c.lo, c.done) for c in exact], n_shares
        assert sum(c.done for c in exact) == len(pending[::2])
