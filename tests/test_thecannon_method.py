"""The Cannon as a ``@task`` (:func:`astra.contrib.thecannon.thecannon`) over catalogue apStar spectra.

Synthetic apStar files are ingested by ``astra migrate``; the method runs from Python, from
``astra run``, through ``astra.build`` and through Luigi's command line, on SQLite and
PostgreSQL, and agrees with the class-style :class:`TestTheCannon` on the same spectra.
"""

import json
import os
import subprocess
import sys

import pytest

import astra
from astra.cli import main as astra_main
from astra.contrib.thecannon import CannonModel, TheCannon, TrainTheCannon, thecannon, write_training_set
from astra.contrib.thecannon import TestTheCannon as CannonTest  # not collected by pytest
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.tools import synthetic

NAMES = ("teff", "logg", "fe_h")


@pytest.fixture
def sample(db_url, tmp_path, monkeypatch):
    """40 training and 4 test apStar files, the training-set CSV, and the test spectra's catalogue rows."""
    sas = str(tmp_path / "sas")
    monkeypatch.setenv("SAS_BASE_DIR", sas)
    train = synthetic.write_sample_tree(sas, 40, release="dr13", species="apStar", seed=11, snr=60)
    test = synthetic.write_sample_tree(sas, 4, release="dr13", species="apStar", seed=12, snr=60)
    training_set = str(tmp_path / "training.csv")
    write_training_set(training_set, train, train.labels, NAMES, release="dr13")
    astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", sas, "--no-progress"])
    objs = [keys["obj"] for keys in test]
    rows = list(Star.select().where(Star.obj.in_(objs)).order_by(Star.spectrum_pk))
    assert len(rows) == 4
    return test, training_set, rows


def where_test(rows):
    return "obj IN ({})".format(", ".join(f"'{r.obj}'" for r in rows))


def trained(training_set):
    """The model trained on ``training_set`` by the class-style task; its path."""
    trainer = TrainTheCannon(training_set=training_set)
    assert astra.build([trainer]).success
    return trainer.output().path


@pytest.fixture
def loads(monkeypatch):
    """The paths CannonModel.load read, in order (the real load runs)."""
    seen = []
    real = CannonModel.load.__func__

    def counting(cls, path):
        seen.append(path)
        return real(cls, path)

    monkeypatch.setattr(CannonModel, "load", classmethod(counting))
    return seen


def test_from_python_trains_once_and_agrees_with_the_class_style_task(sample, loads):
    test, training_set, rows = sample
    results = list(thecannon(Star.select().where(Star.spectrum_pk.in_([r.spectrum_pk for r in rows])),
                             training_set=training_set))
    assert len(results) == 4 and not any(r.flag_runtime_exception for r in results)
    assert len(loads) == 1  # the model is set up once, before the first spectrum
    model_path = TrainTheCannon(training_set=training_set).output().path
    assert loads == [model_path] and os.path.exists(model_path)  # trained where the class style keeps it
    for result in results:
        assert result.model_path == model_path and result.n_pixels > 7000 and 0.3 < result.reduced_chi2 < 3
        assert result.label_names == "teff,logg,fe_h" and result.labels == [result.teff, result.logg, result.fe_h]
        assert result.task_pk is not None and result.t_elapsed > 0 and result.t_overhead > 0
    stored = {r.spectrum_pk: r for r in TheCannon.select()}
    assert sorted(stored) == sorted(r.spectrum_pk for r in rows)

    # The class-style task on the same files (and the same model file) finds the same labels.
    by_obj = {r.obj: r for r in rows}
    tasks = [CannonTest(release="dr13", training_set=training_set, **keys) for keys in test]
    assert astra.build(tasks).done == 4
    for keys, task in zip(test, tasks):
        expected = json.load(open(task.output().path))
        result = stored[by_obj[keys["obj"]].spectrum_pk]
        assert result.teff == pytest.approx(expected["labels"]["teff"], abs=0.5)
        assert result.logg == pytest.approx(expected["labels"]["logg"], abs=1e-3)
        assert result.fe_h == pytest.approx(expected["labels"]["fe_h"], abs=1e-3)
        assert result.e_teff == pytest.approx(expected["uncertainties"]["teff"], rel=1e-2)


def test_astra_run_loads_the_model_once_per_batch_and_then_has_nothing_to_do(sample, loads, capsys, tmp_path):
    from astropy.table import Table

    _, training_set, rows = sample
    model_path = trained(training_set)
    del loads[:]
    args = ["run", "thecannon", "ApogeeCoaddedSpectrumInApStar", "--where", where_test(rows), "--max-batch-size", "2",
            "--model-path", model_path]
    assert astra_main(args) == 0
    assert loads == [model_path, model_path]  # two batches of two spectra
    stored = list(TheCannon.select())
    assert sorted(r.spectrum_pk for r in stored) == sorted(r.spectrum_pk for r in rows)
    assert all(r.teff and r.e_teff and not r.flag_runtime_exception for r in stored)
    capsys.readouterr()
    assert astra_main(args) == 0
    assert "nothing to do" in capsys.readouterr().out and len(loads) == 2

    product = tmp_path / "thecannon.fits"
    assert astra_main(["create", "thecannon", "--output", str(product)]) == 0
    table = Table.read(product)
    assert len(table) == 4 and {"teff", "e_teff", "result_flags"} <= set(table.colnames)


def test_luigi_command_line_runs_the_method(sample, db_url, worker_env):
    _, training_set, rows = sample
    model_path = trained(training_set)
    key = rows[1].spectrum_pk
    env = dict(worker_env, ASTRA_DATABASE_URL=db_url, ASTRA_OUTPUT_DIR=os.environ["ASTRA_OUTPUT_DIR"])
    out = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "astra.contrib.thecannon", "thecannon", "--spectrum-pk", str(key),
         "--model-path", model_path, "--local-scheduler"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    stored = list(TheCannon.select())
    assert [r.spectrum_pk for r in stored] == [key] and stored[0].teff > 3000
    assert thecannon.task_class(spectrum_pk=key, model_path=model_path).complete()


def test_bad_files_fail_only_their_own_spectrum_and_the_model_loads_once(sample, loads):
    _, training_set, rows = sample
    model_path = trained(training_set)
    del loads[:]
    open(rows[0].path, "wb").close()  # zero bytes
    os.unlink(rows[2].path)  # gone from the mirror
    results = {r.spectrum_pk: r for r in thecannon(rows, model_path=model_path)}
    assert len(results) == 4 and len(loads) == 1  # bad files never reach the method: no restart
    empty, missing = results[rows[0].spectrum_pk], results[rows[2].spectrum_pk]
    assert empty.flag_runtime_exception and "empty file (0 bytes)" in empty.error and rows[0].path in empty.error
    assert missing.flag_runtime_exception and "not found" in missing.error and rows[2].path in missing.error
    for good in (rows[1], rows[3]):
        assert not results[good.spectrum_pk].flag_runtime_exception and results[good.spectrum_pk].teff > 3000


def test_model_parameters_are_clear_errors(sample, tmp_path):
    _, training_set, rows = sample
    with pytest.raises(ValueError, match="give model_path .* or training_set .*neither"):
        list(thecannon(rows))
    with pytest.raises(ValueError, match="not both"):
        list(thecannon(rows, model_path="m.npz", training_set=training_set))
    missing = str(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="model_path.*nope.npz"):
        list(thecannon(rows, model_path=missing))
    not_a_model = tmp_path / "junk.npz"
    not_a_model.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.npz is not a Cannon model"):
        list(thecannon(rows, model_path=str(not_a_model)))
    assert not TheCannon.table_exists() or not list(TheCannon.select())  # no spectrum was blamed


def test_the_database_twin_is_gone_and_says_what_to_write(tmp_path):
    from astra.contrib.thecannon import TestTheCannonToDatabase
    from astra.tasks.removed import RemovedTaskError

    with pytest.raises(RemovedTaskError, match="astra run thecannon ApogeeCoaddedSpectrumInApStar"):
        TestTheCannonToDatabase(release="dr13")
    out = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "astra.contrib.thecannon", "TestTheCannonToDatabase",
         "--local-scheduler"],
        capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, ASTRA_OUTPUT_DIR=str(tmp_path / "out")),
    )
    assert out.returncode != 0 and "TestTheCannonToDatabase was removed" in out.stderr + out.stdout


def test_files_mode_writes_one_fits_table_per_spectrum(sample, monkeypatch, tmp_path):
    """The same method, with results_output: files -- no second class, no table in the database."""
    from astropy.io import fits

    _, training_set, rows = sample
    model_path = trained(training_set)
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "files.yml"))
    (tmp_path / "files.yml").write_text("results_output: files\n")
    astra.config.reload()
    summary = astra.build([thecannon.task_class(spectrum_pk=tuple(r.spectrum_pk for r in rows), model_path=model_path)])
    assert summary.done == 4 and not summary.n_failed, summary
    member = thecannon.task_class(spectrum_pk=rows[0].spectrum_pk, model_path=model_path)
    with fits.open(member.output().path) as hdul:
        table = hdul[1].data
        assert table["spectrum_pk"][0] == rows[0].spectrum_pk and 3000 < table["teff"][0] < 8000
        assert table["model_path"][0].strip() == model_path
    assert not TheCannon.table_exists()
