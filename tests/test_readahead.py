"""Reading ahead (astra.core.readahead) and batches as arrays (astra.core.arrays), both method styles.

Which thread read a file is observed with a thread profiler on the data model's loader (the
readers themselves run unchanged).
"""

import contextlib
import os
import sys
import threading

import numpy as np
import pytest

import astra
from astra.cli import main as astra_main
from astra.contrib.rocket import EstimateSNR, snr, snr_arrays
from astra.contrib.rocket.results import RocketSNR, RocketSNRArrays
from astra.core.arrays import array_batches, batch_rows
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.tools import synthetic

from catalogue_helpers import copy_real
from real_files import DR13, REAL_APSTAR

LOADERS = {"load_apstar", "load_apvisit", "load_boss_spec"}


@contextlib.contextmanager
def loader_calls():
    """Record ``(thread name, loader name, path)`` of every loader call while the body runs."""
    calls = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name in LOADERS:
            path = frame.f_locals.get("path") or frame.f_locals.get("file_obj")
            calls.append((threading.current_thread().name, frame.f_code.co_name, str(path)))

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)
        threading.setprofile(None)


def in_threads(calls):
    return [c for c in calls if c[0].startswith("astra-readahead")]


def catalogue(root, n, corrupt_at=None, n_visits=3, seed=0):
    tree = synthetic.write_sample_tree(str(root), n, release="dr13", species="apStar", seed=seed, snr=60,
                                       n_visits=n_visits)
    astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(root), "--no-progress"])
    rows = list(Star.select().order_by(Star.spectrum_pk))
    bad = None
    if corrupt_at is not None:
        bad = rows[corrupt_at].path
        synthetic.corrupt_file(bad, "truncated")  # not empty: it passes the input check, fails to read
    return rows, bad


# ---------------------------------------------------------------------- reading ahead


def test_task_reads_ahead_and_a_corrupt_file_fails_alone(db_url, tmp_path):
    rows, bad = catalogue(tmp_path / "sas", 8, corrupt_at=4)
    with loader_calls() as calls:
        results = list(snr(Star.select().order_by(Star.spectrum_pk)))
    assert in_threads(calls), "no file was read ahead"
    by_pk = {r.spectrum_pk: r for r in results}
    assert len(by_pk) == 8
    failed = [r for r in results if r.flag_runtime_exception]
    assert len(failed) == 1 and failed[0].spectrum_pk == rows[4].spectrum_pk and bad in failed[0].error
    for row in rows[:4] + rows[5:]:
        assert 40 < by_pk[row.spectrum_pk].snr < 80
    # each file read once (ahead or not), in the order of the batch
    paths = [c[2] for c in calls if c[2] != bad]
    assert paths == [r.path for r in rows if r.path != bad]


def test_class_style_reads_ahead_and_a_corrupt_file_fails_alone(tmp_path, monkeypatch):
    sas = tmp_path / "sas"
    keys = synthetic.write_sample_tree(str(sas), 8, release="dr13", species="apStar", seed=4, n_visits=3)
    bad = keys.paths[3]
    synthetic.corrupt_file(bad, "truncated")
    monkeypatch.setenv("SAS_BASE_DIR", str(sas))
    with loader_calls() as calls:
        summary = astra.build([EstimateSNR(release="dr13", **k) for k in keys])
    assert summary.done == 7 and len(summary.failed) == 1
    assert bad in summary.failed[0][1]
    assert in_threads(calls), "no file was read ahead"


def test_readahead_off(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ASTRA_READAHEAD_THREADS", "0")
    astra.config.reload()
    catalogue(tmp_path / "sas", 4)
    with loader_calls() as calls:
        results = list(snr(Star.select()))
    assert len(results) == 4 and not in_threads(calls)


@pytest.mark.realdata
def test_real_files_read_ahead(db_url, real_sas, tmp_path):
    root = tmp_path / "sas"
    for field, obj in REAL_APSTAR.items():
        copy_real(real_sas, root, "dr13", "apStar", field=field, obj=obj, prefix="ap",
                  **{k: v for k, v in DR13.items() if k != "release"})
    astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(root), "--no-progress"])
    with loader_calls() as calls:
        ahead = {r.spectrum_pk: r.snr for r in snr(Star.select())}
    assert in_threads(calls) and len(ahead) == 4
    arrays = {r.spectrum_pk: r.snr for r in snr_arrays(Star.select())}
    assert arrays == pytest.approx(ahead, rel=1e-5)


# ---------------------------------------------------------------------- batches as arrays


def test_array_batches_group_by_grid_and_memory(db_url, tmp_path):
    rows, _ = catalogue(tmp_path / "sas", 5, n_visits=1)
    batches = list(array_batches(rows, memory=2 * 25 * 8575 * 2))  # room for two spectra
    assert [len(b) for b in batches] == [2, 2, 1] and batch_rows(8575, 2 * 25 * 8575 * 2) == 2
    first = batches[0]
    assert first.flux.shape == first.ivar.shape == first.pixel_flags.shape == first.bad.shape == (2, 8575)
    assert first.wavelength.shape == (8575,)
    assert np.array_equal(first.flux[1], rows[1].flux) and first.rows == rows[:2]


def test_snr_arrays_matches_per_spectrum_and_a_corrupt_file_fails_alone(db_url, tmp_path):
    rows, bad = catalogue(tmp_path / "sas", 9, corrupt_at=5)
    ours = {r.spectrum_pk: r for r in snr_arrays(Star.select())}
    theirs = {r.spectrum_pk: r for r in snr(Star.select())}
    assert len(ours) == 9
    failed = [r for r in ours.values() if r.flag_runtime_exception]
    assert [r.spectrum_pk for r in failed] == [rows[5].spectrum_pk] and bad in failed[0].error
    for pk, result in ours.items():
        if pk != rows[5].spectrum_pk:
            assert result.snr == pytest.approx(theirs[pk].snr, rel=1e-6)
    stored = {r.spectrum_pk: r for r in RocketSNRArrays.select()}
    assert len(stored) == 9 and stored[rows[5].spectrum_pk].flag_runtime_exception
    assert RocketSNR.select().count() == 9  # the per-spectrum method's rows are its own


def test_the_memory_bound_sets_how_many_are_read_ahead(tmp_path):
    from astra.core.readahead import ReadAhead
    from astra.tools.spectrum import read_arrays

    paths = [str(p) for p in synthetic.write_sample_tree(str(tmp_path), 6, release="dr13", species="apStar",
                                                        n_visits=1).paths]
    size = read_arrays(paths[0], "apStar").flux.nbytes
    session = ReadAhead(paths, threads=2, memory=3 * size)  # the flux alone is most of a spectrum
    try:
        from astra.tools.spectrum import _read_arrays

        first = session.read(_read_arrays, paths[0], "apStar", {})
        assert 1 <= len(session.ahead) <= 3 and session.window() <= 3
        for path in paths[1:]:
            assert np.array_equal(session.read(_read_arrays, path, "apStar", {}).wavelength, first.wavelength)
            assert len(session.ahead) <= session.window()
        assert session.hits == 5 and session.misses == 1
        # read another way: what was read ahead is dropped, and the new way is learned
        session.read(_read_arrays, paths[0], None, {})
        assert session.recipe[1] is None
    finally:
        session.close()


def test_array_batches_read_in_the_methods_thread_and_keep_only_their_rows(db_url, tmp_path):
    # Reader threads do not help a batch that only fills (reading holds the GIL): the arrays
    # are read in the method's thread, one row of each file copied into the batch's arrays.
    rows, _ = catalogue(tmp_path / "sas", 6, n_visits=3)
    with loader_calls() as calls:
        results = list(snr_arrays(Star.select().order_by(Star.spectrum_pk)))
    assert len(results) == 6 and not any(r.flag_runtime_exception for r in results)
    assert calls and not in_threads(calls)
    batch = next(array_batches(rows))
    assert batch.flux.shape == (6, 8575) and batch.flux.base is not None  # views of the batch's arrays
    assert batch.flux.base.shape[0] >= 6 and np.array_equal(batch.flux[2], rows[2].flux)


def test_a_class_batch_that_reads_no_spectrum_finds_no_input_paths(tmp_path, monkeypatch):
    # The input paths of a class-style batch are found at its first read through the readers,
    # not before: a method that never reads a spectrum pays nothing per member for them.
    import astra.tasks.class_method as class_method  # the class style's contract finds the paths

    from astra.core.readahead import ReadAhead

    asked = []
    found = class_method.input_path
    monkeypatch.setattr(class_method, "input_path", lambda member: asked.append(member) or found(member))
    sas = tmp_path / "sas"
    keys = synthetic.write_sample_tree(str(sas), 3, release="dr13", species="apStar", seed=5, n_visits=1)
    monkeypatch.setenv("SAS_BASE_DIR", str(sas))

    class NoRead(EstimateSNR):
        def process(self, task, context):
            with task.output().open("w") as fp:
                fp.write("{}")

    assert astra.build([NoRead(release="dr13", **k) for k in keys]).done == 3
    assert asked == []
    with loader_calls() as calls:
        assert astra.build([EstimateSNR(release="dr13", **k) for k in keys]).done == 3
    assert len(asked) == 3 and in_threads(calls)
    session = ReadAhead(lambda: 1 / 0)  # a function of no arguments: not called until a read
    session.close()
