"""``@task`` methods: seed 000's example from Python, from ``astra run``, through Luigi and luigid."""

import os
import subprocess
import sys
import time
from typing import Iterable

import luigi
import pytest

import astra
import astra.config
from astra.cli import main as astra_main
from astra.models.pipeline import PipelineOutputMixin, major_minor
from astra.tasks.function import TaskFunctionError
from astra.tasks.function_query import done_keys, pending_spectra
from astra.tasks.function_runner import run_pending
from astra.tools import synthetic
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from service_fixtures import start_worker
import task_methods
from task_methods import Rocket, MedianSNR, rocket, median_snr

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def write_spectra(root, n, seed=0):
    """``n`` synthetic dr13 apStar files under the SAS root ``root``; their paths, in key order."""
    tree = synthetic.write_sample_tree(str(root), n, release="dr13", species="apStar", seed=seed, snr=60, n_visits=1)
    return sorted(tree.paths)


def migrate(root):
    """``astra migrate`` the apStar files under ``root``; the catalogue rows in ``spectrum_pk`` order."""
    astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(root), "--no-progress"])
    return list(Star.select().order_by(Star.spectrum_pk))


@pytest.fixture
def catalogue(db_url, tmp_path):
    """Four synthetic apStar spectra ingested into the catalogue by ``astra migrate``; the rows."""
    write_spectra(tmp_path / "sas", 4)
    return migrate(tmp_path / "sas")


def pks(rows_):
    return [r.spectrum_pk for r in rows_]


def rows(model):
    return {r.spectrum_pk: r for r in model.select()}


# ---------------------------------------------------------------------- from Python


def test_seed_example_runs_from_python(catalogue):
    """Seed 000's ``for result in rocket(spectra)`` over a query: one row per spectrum, timed."""
    spectra = Star.select().limit(10)
    results = list(rocket(spectra))
    assert [r.spectrum_pk for r in results] == [s.spectrum_pk for s in catalogue]
    assert all(r.task_pk is not None and r.created is not None for r in results)
    assert all(r.teff > 4000 and not r.flag_no_converge for r in results)
    assert all(r.source_pk == s.source_pk for r, s in zip(results, catalogue))
    # every result has its elapsed time and the same share of the one overhead
    assert all(r.t_elapsed is not None and r.t_elapsed >= 0 for r in results)
    assert len({r.t_overhead for r in results}) == 1
    stored = rows(Rocket)
    assert sorted(stored) == [s.spectrum_pk for s in catalogue]
    first = stored[catalogue[0].spectrum_pk]
    assert first.v_astra == astra.__version__ and first.v_astra_major_minor == major_minor()
    assert first.teff == pytest.approx(results[0].teff)


def test_rerun_upserts_keeping_primary_key_and_created(catalogue):
    first = {r.spectrum_pk: (r.task_pk, r.created) for r in rocket(Star.select())}
    time.sleep(0.01)
    again = list(rocket(Star.select(), some_parameter=2.0))
    assert Rocket.select().count() == len(catalogue)
    for result in again:
        assert (result.task_pk, result.created) == first[result.spectrum_pk]
    stored = rows(Rocket)
    assert all(stored[pk].modified > created for pk, (_, created) in first.items())
    assert stored[again[0].spectrum_pk].teff == pytest.approx(again[0].teff)


def test_write_to_database_false_writes_nothing(catalogue):
    results = list(rocket(Star.select(), write_to_database=False))
    assert len(results) == len(catalogue) and all(r.task_pk is None for r in results)
    assert not Rocket.table_exists() or Rocket.select().count() == 0


def test_batch_size_writes_as_results_come(catalogue):
    """With batch_size=2 the first two rows are in the database before the third is made."""
    seen = []
    for result in rocket(Star.select(), batch_size=2):
        seen.append((result.spectrum_pk, Rocket.select().count()))
    assert [count for _, count in seen] == [2, 2, 4, 4]


def test_write_frequency_zero_writes_every_result(catalogue):
    counts = [Rocket.select().count() for _ in rocket(Star.select(), write_frequency=0)]
    assert counts == [1, 2, 3, 4]


def test_tag_is_written(catalogue):
    list(rocket(Star.select(), tag="trial-1"))
    assert {r.tag for r in Rocket.select()} == {"trial-1"}


# ---------------------------------------------------------------------- failures


def pk_of(path):
    return Star.get(Star.path == path).spectrum_pk


def test_bad_files_fail_only_their_own_spectrum(db_url, tmp_path):
    """A zero-byte file and a file missing from the mirror each get a flagged row; the rest run."""
    paths = write_spectra(tmp_path / "sas", 4)
    open(paths[1], "wb").close()  # zero bytes (astra migrate flags its row bad, and keeps it)
    migrate(tmp_path / "sas")
    os.unlink(paths[2])  # a failed download: the catalogue row exists, the file does not
    empty_pk, missing_pk = pk_of(paths[1]), pk_of(paths[2])
    before = len(task_methods.LOADS)
    results = {r.spectrum_pk: r for r in median_snr(Star.select())}
    assert len(results) == 4
    empty, missing = results[empty_pk], results[missing_pk]
    assert empty.flag_runtime_exception and "empty" in empty.error and paths[1] in empty.error
    assert missing.flag_runtime_exception and paths[2] in missing.error and "empty" not in missing.error
    good = [pk_of(paths[0]), pk_of(paths[3])]
    for pk in good:
        assert not results[pk].flag_runtime_exception and results[pk].snr > 10
    # the method was set up once: bad files are refused before it sees them (no restart)
    assert len(task_methods.LOADS) - before == 1
    stored = rows(MedianSNR)
    assert stored[empty_pk].flag_runtime_exception and stored[empty_pk].snr is None
    assert "empty" in stored[empty_pk].error


def test_re_raise_exceptions_stops_after_writing_the_flagged_row(db_url, tmp_path):
    paths = write_spectra(tmp_path / "sas", 3)
    catalogue = migrate(tmp_path / "sas")
    open(catalogue[1].path, "wb").close()
    with pytest.raises(Exception, match="empty"):
        list(median_snr(Star.select().order_by(Star.spectrum_pk), re_raise_exceptions=True))
    stored = rows(MedianSNR)
    assert sorted(stored) == pks(catalogue[:2])
    assert stored[catalogue[1].spectrum_pk].flag_runtime_exception
    assert not stored[catalogue[0].spectrum_pk].flag_runtime_exception
    assert paths


def test_the_methods_own_flag(db_url, tmp_path):
    """Seed 000's rocket catches its own errors (here, a file that is not FITS) and yields
    flag_no_converge instead. (A missing or empty file never reaches it: that is the input check's.)"""
    write_spectra(tmp_path / "sas", 2)
    catalogue = migrate(tmp_path / "sas")
    with open(catalogue[0].path, "wb") as fp:
        fp.write(b"not a FITS file\n" * 400)
    results = list(rocket(Star.select().order_by(Star.spectrum_pk)))
    assert results[0].flag_no_converge and not results[0].flag_runtime_exception
    assert not results[1].flag_no_converge
    assert Rocket.select().where(Rocket.flag_no_converge).count() == 1


def test_contract_errors_name_the_function():
    with pytest.raises(TaskFunctionError, match="generator"):

        @astra.task
        def not_a_generator(spectra: Iterable[Star]) -> Iterable[Rocket]:
            return []

    with pytest.raises(TaskFunctionError, match="return type"):

        @astra.task
        def no_output(spectra: Iterable[Star]):
            yield None

    with pytest.raises(TaskFunctionError, match="reserved"):

        @astra.task
        def reserved(spectra: Iterable[Star], batch_size: int = 3) -> Iterable[Rocket]:
            yield None


def test_yielding_the_wrong_model_is_an_error(catalogue):
    @astra.task
    def wrong(spectra: Iterable[Star]) -> Iterable[Rocket]:
        for spectrum in spectra:
            yield MedianSNR.from_spectrum(spectrum)

    with pytest.raises(TaskFunctionError, match="yielded MedianSNR, not a Rocket"):
        list(wrong(Star.select()))


def test_unknown_result_name_is_an_error(catalogue):
    with pytest.raises(TypeError, match="no column or flag named 'tef'"):
        Rocket.from_spectrum(catalogue[0], tef=5000)


# ---------------------------------------------------------------------- what needs work


def test_pending_is_one_query_and_follows_file_changes(catalogue, tmp_path):
    keys = pks(catalogue)
    assert pks(pending_spectra(Star, MedianSNR)) == keys
    list(median_snr(Star.select()))
    assert list(pending_spectra(Star, MedianSNR)) == []
    # the file of the second spectrum is rewritten; astra migrate notices, the result is stale
    time.sleep(0.02)
    path = catalogue[1].path
    synthetic.write_apstar(path, n_visits=1, snr=20, seed=99)
    os.utime(path, (time.time() + 5, time.time() + 5))
    migrate(tmp_path / "sas")
    assert pks(pending_spectra(Star, MedianSNR)) == [keys[1]]
    assert done_keys(Star, MedianSNR, keys + [10**9]) == set(keys) - {keys[1]}
    assert list(pending_spectra(Star, MedianSNR, where=f"spectrum_pk <> {keys[1]}")) == []
    assert pks(pending_spectra(Star, MedianSNR, where="snr > 0", limit=5)) == [keys[1]]
    assert run_pending(median_snr, "ApogeeCoaddedSpectrumInApStar")[0] == 1
    assert list(pending_spectra(Star, MedianSNR)) == []


def test_retry_failed(db_url, tmp_path):
    write_spectra(tmp_path / "sas", 3)
    catalogue = migrate(tmp_path / "sas")
    bad = catalogue[1]
    data = open(bad.path, "rb").read()
    os.unlink(bad.path)  # not downloaded yet
    list(median_snr(Star.select()))
    # The failure policy (astra.core.outcome): a failure is retried by default; skipping it
    # (it counts as done) is one option away.
    assert pks(pending_spectra(Star, MedianSNR)) == [bad.spectrum_pk]
    assert list(pending_spectra(Star, MedianSNR, retry_failed=False)) == []
    assert pks(pending_spectra(Star, MedianSNR, retry_failed=True)) == [bad.spectrum_pk]
    with open(bad.path, "wb") as fp:  # the download is repaired
        fp.write(data)
    n, summary = run_pending(median_snr, "ApogeeCoaddedSpectrumInApStar")
    assert n == 1 and summary.done == 1 and not summary.failed
    assert not MedianSNR.get(MedianSNR.spectrum_pk == bad.spectrum_pk).flag_runtime_exception


# ---------------------------------------------------------------------- astra run

MODEL = "ApogeeCoaddedSpectrumInApStar"


def test_astra_run_catalogue_form(catalogue, capsys):
    keys = pks(catalogue)
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--limit", "3", "--min-snr", "500"]) == 0
    out = capsys.readouterr().out
    assert "median_snr: 3 spectra; 3 spectra done" in out
    stored = rows(MedianSNR)
    assert sorted(stored) == keys[:3]
    assert stored[keys[0]].flag_low_snr  # --min-snr 500 reached the method
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--min-snr", "500"]) == 0
    assert "median_snr: 1 spectra; 1 spectra done" in capsys.readouterr().out
    assert sorted(rows(MedianSNR)) == keys
    # a second identical run does nothing
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--min-snr", "500"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    # other parameters make every result out of date (docs/provenance.rst)
    assert astra_main(["run", "task_methods.median_snr", MODEL]) == 0
    assert "median_snr: 4 spectra; 4 spectra done" in capsys.readouterr().out


def test_astra_run_reports_failures_and_bad_arguments(db_url, tmp_path, capsys):
    paths = write_spectra(tmp_path / "sas", 3)
    open(paths[2], "wb").close()
    migrate(tmp_path / "sas")
    capsys.readouterr()
    assert astra_main(["run", "task_methods.median_snr", MODEL]) == 1
    out = capsys.readouterr().out
    assert "2 spectra done" in out and "1 failed" in out and "empty" in out
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--min-snr", "high"]) == 2
    assert "min_snr" in capsys.readouterr().err
    assert astra_main(["run", "task_methods.median_snr", "BossVisitSpectrum"]) == 2
    assert f"reads {MODEL}, not 'BossVisitSpectrum'" in capsys.readouterr().err
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--colour", "red"]) == 2
    assert "no parameter 'colour'" in capsys.readouterr().err
    assert astra_main(["run", "no_such_task", MODEL]) == 2
    assert "no task registered as 'no_such_task'" in capsys.readouterr().err


def test_astra_run_spectrum_pk_ranges(catalogue, capsys, monkeypatch):
    keys = [str(k) for k in pks(catalogue)]  # four spectra
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--spectrum-pk-range", keys[1], keys[2]]) == 0
    assert f"2 spectra in spectrum_pk {keys[1]}..{keys[2]}; 2 spectra done" in capsys.readouterr().out
    assert sorted(map(str, rows(MedianSNR))) == keys[1:3]
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--spectrum-pk-range", keys[0], keys[2]]) == 0
    assert sorted(map(str, rows(MedianSNR))) == keys[:3]  # only the pending one of the range ran
    # one range per process of a job step, by SLURM_PROCID; a process past the last has nothing to do
    argv = ["run", "task_methods.median_snr", MODEL, "--spectrum-pk-range", keys[0], keys[0],
            "--spectrum-pk-range", keys[3], keys[3], "--range-per-process"]
    monkeypatch.setenv("SLURM_PROCID", "2")
    assert astra_main(argv) == 0
    assert "no range for process 2" in capsys.readouterr().out
    monkeypatch.setenv("ASTRA_SHARE_COUNT", "3")  # astra srun's batch-share variables do not split it again
    monkeypatch.setenv("SLURM_PROCID", "1")
    assert astra_main(argv) == 0
    assert f"1 spectra in spectrum_pk {keys[3]}..{keys[3]}; 1 spectra done" in capsys.readouterr().out
    assert sorted(map(str, rows(MedianSNR))) == keys


def test_astra_run_spectrum_pk_range_errors(catalogue, capsys):
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--spectrum-pk-range", "5", "2"]) == 2
    assert "LO must not be greater than HI" in capsys.readouterr().err
    assert astra_main(["run", "task_methods.median_snr", MODEL, "--range-per-process"]) == 2
    assert "--range-per-process needs --spectrum-pk-range" in capsys.readouterr().err
    assert astra_main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13",
                       "--spectrum-pk-range", "1", "2"]) == 2
    assert "need a catalogue model" in capsys.readouterr().err


# ---------------------------------------------------------------------- Luigi


def test_the_luigi_task_has_the_function_parameters():
    cls = median_snr.task_class
    assert cls.get_task_family() == "median_snr" and issubclass(cls, astra.tasks.BaseTask)
    params = dict(cls.get_params())
    assert isinstance(params["min_snr"], luigi.FloatParameter) and params["min_snr"]._default == 3.0
    assert isinstance(params["min_good_pixels"], luigi.IntParameter)
    assert params["spectrum_pk"]._is_batchable()
    task = cls(spectrum_pk=(1, 2, 3), min_snr=5)
    assert task.is_batch_mode and task.spectrum_model == MODEL
    assert [m.spectrum_pk for m in task.get_batch_tasks()] == [1, 2, 3]


def test_astra_build_runs_a_task_in_batches(catalogue):
    tasks = [median_snr.task_class(spectrum_pk=s.spectrum_pk, min_snr=0) for s in catalogue]
    before = len(task_methods.LOADS)
    summary = astra.build(tasks, max_batch_size=2)
    assert summary.success and summary.done == 4 and not summary.failed
    assert len(task_methods.LOADS) - before == 2  # once per batch of two
    assert all(t.complete() for t in tasks)
    assert not any(r.flag_low_snr for r in rows(MedianSNR).values())
    again = astra.build(tasks, max_batch_size=2)
    assert again.skipped == 4


def test_luigi_command_line_runs_a_task(catalogue, db_url, worker_env):
    env = dict(worker_env, ASTRA_DATABASE_URL=db_url, ASTRA_OUTPUT_DIR=os.environ["ASTRA_OUTPUT_DIR"])
    key = catalogue[2].spectrum_pk
    result = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "task_methods", "median_snr", "--spectrum-pk", str(key),
         "--min-snr", "100", "--local-scheduler"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert ":)" in result.stdout + result.stderr
    stored = rows(MedianSNR)
    assert sorted(stored) == [key] and stored[key].flag_low_snr


@pytest.mark.luigid
def test_luigid_runs_a_task(catalogue, db_url, luigid, tmp_path):
    env = dict(luigid.env, ASTRA_DATABASE_URL=db_url, ASTRA_OUTPUT_DIR=os.environ["ASTRA_OUTPUT_DIR"])
    log_path = str(tmp_path / "worker.log")
    key = catalogue[1].spectrum_pk
    worker = start_worker("task_methods", "median_snr", ["--spectrum-pk", str(key)], env, scheduler=luigid, log_path=log_path)
    assert worker.wait(timeout=120) == 0, open(log_path).read()[-2000:]
    assert sorted(rows(MedianSNR)) == [key]
    assert median_snr.task_class(spectrum_pk=key).complete()


# ---------------------------------------------------------------------- files instead of a database


def test_files_mode_writes_one_fits_table_per_spectrum(catalogue, monkeypatch, tmp_path):
    from astropy.io import fits

    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "files.yml"))
    (tmp_path / "files.yml").write_text("results_output: files\n")
    astra.config.reload()
    results = list(rocket(Star.select()))
    key = catalogue[0].spectrum_pk
    task = rocket.task_class(spectrum_pk=key)
    path = task.output().path
    assert os.path.exists(path) and task.complete()
    with fits.open(path) as hdul:
        table = hdul[1].data
        assert table["spectrum_pk"][0] == key and table["teff"][0] == pytest.approx(results[0].teff)
        comments = {hdul[1].header[k]: hdul[1].header.comments[k] for k in hdul[1].header if k.startswith("TTYPE")}
        assert comments["teff"] == "Effective temperature [K]"
    assert not Rocket.table_exists()
    summary = astra.build([rocket.task_class(spectrum_pk=tuple(pks(catalogue)))])
    assert summary.skipped == 4


# ---------------------------------------------------------------------- the guide's example


def test_the_writing_tasks_example_runs(catalogue, tmp_path, monkeypatch):
    """docs/writing-tasks.rst's first example, as a module, over the catalogue."""
    import importlib
    import re
    import textwrap

    text = open(os.path.join(TESTS_DIR, "..", "docs", "writing-tasks.rst")).read()
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text).group(1)
    (tmp_path / "guide_methods.py").write_text(textwrap.dedent(block))
    monkeypatch.syspath_prepend(str(tmp_path))
    guide = importlib.import_module("guide_methods")
    results = list(guide.mean_snr(Star.select(), min_snr=10**6))
    assert len(results) == len(catalogue) and all(r.flag_low_snr and r.snr > 10 for r in results)
    assert guide.MeanSNR.select().count() == len(catalogue)
