"""Provenance of every result (issue 23, item 1) and changed parameters are never "nothing to do"
(item 2): real apStar files, SQLite and PostgreSQL."""

import json
import os
import shlex
import subprocess
import sys
import textwrap
import uuid
import zlib

import pytest

import astra
import astra.config
from astra.cli import main as astra_main
from astra.contrib.rocket import RocketSNR, snr
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.provenance import record as provenance_record
from astra.provenance.record import SAMPLE_BYTES
from astra.provenance.table import Provenance, records_of
from astra.tasks.function_query import Currency, pending_spectra
from astra.tasks.function_runner import run_pending
from catalogue_helpers import copy_real
from real_files import DR13, REAL_APSTAR

MODEL = "ApogeeCoaddedSpectrumInApStar"

pytestmark = pytest.mark.realdata


@pytest.fixture
def catalogue(db_url, real_sas, tmp_path):
    """The four real dr13 apStar files, copied into a SAS tree and migrated; the catalogue rows."""
    root = tmp_path / "sas"
    for field, obj in REAL_APSTAR.items():
        copy_real(real_sas, root, "dr13", "apStar", field=field, obj=obj, prefix="ap", **{k: v for k, v in DR13.items()
                                                                                            if k != "release"})
    assert astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(root),
                       "--no-progress"]) == 0
    return list(Star.select().order_by(Star.spectrum_pk))


def _cli(*args, env=None):
    done = subprocess.run([sys.executable, "-m", "astra.cli", *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})))
    return done.returncode, done.stdout, done.stderr


def _rows():
    return {r.spectrum_pk: r for r in RocketSNR.select()}


def _sampled_crc(path):
    data = open(path, "rb").read()
    if len(data) <= 2 * SAMPLE_BYTES:
        return zlib.crc32(data)
    return zlib.crc32(data[-SAMPLE_BYTES:], zlib.crc32(data[:SAMPLE_BYTES]))


def test_every_row_references_one_record_of_how_it_was_made(catalogue):
    n, summary = run_pending(snr, MODEL)
    assert n == 4 and summary.success
    rows = _rows()
    assert {r.provenance_pk for r in rows.values()} == {rows[catalogue[0].spectrum_pk].provenance_pk}
    assert Provenance.select().count() == 1  # stored once, not per row
    record = records_of([rows[catalogue[0].spectrum_pk].provenance_pk])[rows[catalogue[0].spectrum_pk].provenance_pk]
    assert record["method"] == "astra.contrib.rocket.tasks.snr" and record["kind"] == "task"
    assert record["parameters"] == {"min_good_pixels": 100, "use_pixel_mask": True}  # all, defaults included
    code = record["code"]
    assert code["astra_version"] == astra.__version__ and code["module"] == "astra.contrib.rocket.tasks"
    assert code["package_version"] and code["module_digest"].startswith("blake2b:")
    checkout = subprocess.run(["git", "-C", os.path.dirname(code["module_file"]), "rev-parse", "HEAD"],
                              capture_output=True, text=True)
    assert code["git_commit"] == (checkout.stdout.strip() if checkout.returncode == 0 else None)
    assert record["host"] == os.uname().nodename
    for spectrum in catalogue:  # the input file's facts, per row
        row = rows[spectrum.spectrum_pk]
        assert row.input_size == os.path.getsize(spectrum.path)
        assert row.input_checksum == _sampled_crc(spectrum.path)
        assert row.spectrum_mtime == pytest.approx(os.path.getmtime(spectrum.path), abs=1e-3)


def test_full_checksum_setting_covers_every_byte(catalogue, tmp_path, monkeypatch):
    (tmp_path / "full.yml").write_text("provenance_checksum: full\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "full.yml"))
    astra.config.reload()
    list(snr(Star.select()))
    for spectrum in catalogue:
        assert _rows()[spectrum.spectrum_pk].input_checksum == zlib.crc32(open(spectrum.path, "rb").read())


def test_changed_parameters_recompute_the_row_in_place(catalogue):
    """Seed 000's rule: one row per spectrum and major.minor, recomputed with its provenance."""
    run_pending(snr, MODEL)
    before = _rows()
    assert run_pending(snr, MODEL)[0] == 0  # same parameters: nothing to do
    assert len(list(pending_spectra(Star, snr, currency=Currency(snr, {"min_good_pixels": 5000})))) == 4
    n, summary = run_pending(snr, MODEL, task_params={"min_good_pixels": 5000})
    assert n == 4 and summary.success
    after = _rows()
    assert {k: r.task_pk for k, r in after.items()} == {k: r.task_pk for k, r in before.items()}  # in place
    records = records_of([r.provenance_pk for r in after.values()])
    assert [rec["parameters"]["min_good_pixels"] for rec in records.values()] == [5000]
    assert run_pending(snr, MODEL, task_params={"min_good_pixels": 5000})[0] == 0
    assert run_pending(snr, MODEL, task_params={"min_good_pixels": 5000.0})[0] == 0  # 5000 is 5000.0
    assert run_pending(snr, MODEL)[0] == 4  # back to the defaults: out of date again


def test_force_and_dry_run(catalogue, capsys):
    assert astra_main(["run", "snr", MODEL]) == 0
    capsys.readouterr()
    assert astra_main(["run", "snr", MODEL, "--dry-run"]) == 0
    assert "0 ApogeeCoaddedSpectrumInApStar spectra would run" in capsys.readouterr().out
    assert astra_main(["run", "snr", MODEL, "--dry-run", "--min-good-pixels", "7"]) == 0
    assert "4 ApogeeCoaddedSpectrumInApStar spectra would run (4 parameters changed)" in capsys.readouterr().out
    assert astra_main(["run", "snr", MODEL, "--dry-run", "--force"]) == 0
    assert "(4 forced)" in capsys.readouterr().out
    first = catalogue[0].spectrum_pk
    RocketSNR.delete().where(RocketSNR.spectrum_pk == first).execute()
    assert astra_main(["run", "snr", MODEL, "--dry-run", "--min-good-pixels", "7"]) == 0
    assert "(1 new, 3 parameters changed)" in capsys.readouterr().out
    assert astra_main(["run", "snr", MODEL]) == 0  # the dry runs ran nothing; this runs the deleted one
    assert "snr: 1 spectra" in capsys.readouterr().out
    modified = {k: r.modified for k, r in _rows().items()}
    assert astra_main(["run", "snr", MODEL, "--force"]) == 0
    assert "snr: 4 spectra" in capsys.readouterr().out
    assert all(r.modified > modified[k] for k, r in _rows().items())
    assert astra_main(["run", "snr", MODEL]) == 0
    assert "nothing to do" in capsys.readouterr().out


def _method_module(tmp_path, name, body_comment):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(f'''
        from typing import Iterable

        from astra import task
        from astra.fields import FloatField
        from astra.models.apogee import ApogeeCoaddedSpectrumInApStar
        from astra.models.pipeline import PipelineOutputMixin


        class {name.title().replace("_", "")}(PipelineOutputMixin):
            """Pixels of a spectrum."""

            pixels = FloatField(null=True, help_text="Number of pixels")


        @task
        def count_pixels(spectra: Iterable[ApogeeCoaddedSpectrumInApStar], scale: float = 1.0
                         ) -> Iterable[{name.title().replace("_", "")}]:
            """Count pixels ({body_comment})."""
            for spectrum in spectra:
                yield {name.title().replace("_", "")}.from_spectrum(spectrum, pixels=scale * spectrum.flux.size)
    '''))
    return path


def test_changed_code_makes_results_out_of_date_only_when_asked(catalogue, tmp_path, monkeypatch):
    import importlib

    name = f"prov_methods_{uuid.uuid4().hex[:8]}"
    path = _method_module(tmp_path, name, "first version")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    method = module.count_pixels
    assert run_pending(method, MODEL)[0] == 4
    path.write_text(path.read_text().replace("first version", "second version"))  # the method's code changes
    provenance_record.code_facts.cache_clear()
    assert run_pending(method, MODEL)[0] == 0  # by default code changes do not count
    keys = [s.spectrum_pk for s in pending_spectra(Star, method, currency=Currency(method, code=True))]
    assert len(keys) == 4
    (tmp_path / "code.yml").write_text("rerun_if_code_changed: true\n")  # or the setting
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "code.yml"))
    astra.config.reload()
    assert run_pending(method, MODEL)[0] == 4
    assert run_pending(method, MODEL)[0] == 0


def test_provenance_command_prints_the_record_and_a_command_that_reproduces_the_result(catalogue):
    assert astra_main(["run", "snr", MODEL, "--min-good-pixels", "50"]) == 0
    key = catalogue[1].spectrum_pk
    before = _rows()[key]
    code, out, err = _cli("provenance", "RocketSNR", str(key))
    assert code == 0, err
    assert '"min_good_pixels": 50' in out and f"astra {astra.__version__}" in out
    assert f"input_size={os.path.getsize(catalogue[1].path)}" in out
    command = next(line for line in out.splitlines() if line.startswith("reproduce: ")).split(": ", 1)[1]
    assert "--min-good-pixels 50" in command and f"--spectrum-pk-range {key} {key}" in command
    argv = shlex.split(command)
    assert argv[0] == "astra"
    code, out, err = _cli(*argv[1:])
    assert code == 0 and "1 spectra done" in out, out + err
    after = _rows()[key]
    assert after.task_pk == before.task_pk and after.modified > before.modified  # recomputed, in place
    assert after.snr == before.snr and after.snr_visits == before.snr_visits and after.n_pixels == before.n_pixels
    old, new = records_of([before.provenance_pk, after.provenance_pk]).values() if before.provenance_pk != \
        after.provenance_pk else [records_of([before.provenance_pk])[before.provenance_pk]] * 2
    assert old["parameters"] == new["parameters"]
    assert _cli("provenance", "rocket_snr", f"task_pk={before.task_pk}")[1].count("reproduce:") == 1


def test_rows_written_before_provenance_migrate_and_stay_current(catalogue):
    """An existing table gains the columns; its rows (no provenance) are not recomputed."""
    from astra.database import get_database
    from astra.database.migrations import ensure_table, forget_tables

    db = get_database()
    run_pending(snr, MODEL)
    for column in ("provenance_pk", "input_size", "input_checksum"):
        db.execute_sql(f"ALTER TABLE rocket_snr DROP COLUMN {column}")
    forget_tables()
    assert "provenance_pk" in ensure_table(RocketSNR, db=db).added
    assert all(r.provenance_pk is None for r in RocketSNR.select())
    assert run_pending(snr, MODEL)[0] == 0
    code, out, _ = _cli("provenance", "RocketSNR", str(catalogue[0].spectrum_pk))
    assert code == 0 and "none recorded" in out
    assert run_pending(snr, MODEL, force=True)[0] == 4  # --force recomputes them, with provenance
    assert all(r.provenance_pk is not None for r in RocketSNR.select())


def test_files_mode_results_carry_a_provenance_hdu(catalogue, tmp_path, monkeypatch):
    from astropy.io import fits

    (tmp_path / "files.yml").write_text("results_output: files\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "files.yml"))
    astra.config.reload()
    list(snr(Star.select(), min_good_pixels=60))
    key = catalogue[0].spectrum_pk
    path = snr.task_class(spectrum_pk=key, min_good_pixels=60).output().path
    with fits.open(path) as hdul:
        assert hdul[1].data["provenance_pk"][0] == 1
        record = json.loads(hdul["PROVENANCE"].data["record"][0])
    assert record["parameters"]["min_good_pixels"] == 60
    code, out, err = _cli("provenance", path, f"spectrum_pk={key}")
    assert code == 0 and '"min_good_pixels": 60' in out, err
    other = snr.task_class(spectrum_pk=key, min_good_pixels=61)
    assert not other.complete()  # another parameter set: its own file, not yet written


def test_astra_create_products_carry_the_column_and_a_provenance_hdu(catalogue, tmp_path):
    from astropy.io import fits

    assert astra_main(["run", "snr", MODEL, "--min-good-pixels", "42"]) == 0
    for product in ("astraAllStarRocketSNR", "RocketSNR"):
        path = tmp_path / f"{product}.fits"
        assert astra_main(["create", product, "--output", str(path)]) == 0
        with fits.open(path) as hdul:
            records = {int(k): json.loads(t) for k, t in zip(hdul["PROVENANCE"].data["provenance_pk"],
                                                             hdul["PROVENANCE"].data["record"])}
            tables = [h for h in hdul[1:] if h.name != "PROVENANCE" and len(h.data)]
            used = {int(k) for h in tables for k in h.data["provenance_pk"]}
        assert used == set(records) and [r["parameters"]["min_good_pixels"] for r in records.values()] == [42]
        code, out, err = _cli("provenance", str(path), str(catalogue[2].spectrum_pk))
        assert code == 0 and '"min_good_pixels": 42' in out and "reproduce: astra run" in out, err


def test_class_style_outputs_carry_provenance_files_and_rows(db_url, real_sas, monkeypatch, tmp_path):
    """Seeds 002/003: each parameter set has its own outputs (task identity); a file output gets
    its provenance file beside it, a database row its ``provenance_pk``."""
    from astra.contrib.rocket import EstimateSNR
    from astra.contrib.rocket.results import EstimateSNRResult
    from rocket_database import EstimateSNRToDatabase

    monkeypatch.setenv("SAS_BASE_DIR", real_sas)
    keys = dict(field=tuple(REAL_APSTAR)[:2], obj=tuple(REAL_APSTAR.values())[:2], **DR13)
    task = EstimateSNR(**keys)
    assert astra.build([task]).done == 2
    member = list(task.get_batch_tasks())[0]
    code, out, err = _cli("provenance", member.output().path)
    assert code == 0, err
    assert "method: astra.contrib.rocket.EstimateSNR (class)" in out or "EstimateSNR (class)" in out
    assert f"input_size={os.path.getsize(member.input().path)}" in out
    assert f"--obj {member.obj}" in out and "reproduce: astra run" in out
    changed = EstimateSNR(min_good_pixels=7, **keys)
    assert not changed.complete()  # another parameter set: its own outputs
    rows = EstimateSNRToDatabase(**keys)
    assert astra.build([rows]).done == 2
    stored = list(EstimateSNRResult.select())
    assert len(stored) == 2 and len({r.provenance_pk for r in stored}) == 1
    record = records_of([stored[0].provenance_pk])[stored[0].provenance_pk]
    assert record["kind"] == "class" and record["parameters"]["min_good_pixels"] == 100
    assert {r.input_size for r in stored} == {os.path.getsize(m.input().path) for m in list(rows.get_batch_tasks())}
