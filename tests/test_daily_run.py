"""``astra daily`` over two days of a synthetic SAS tree: only what is new is done.

Day 1 ingests and analyses 60 apStar files; day 2 adds 50: only those 50 are migrated and
analysed (and, downstream of the hot/cool classifier, only the new hot ones), the products
are rewritten with all 110 rows, and no other row is touched (their ``modified`` is
unchanged). A dry run changes nothing; a second run the same day runs nothing; a changed file
is analysed again, downstream too, alone; a failing step stops only the steps that need it.
"""

import datetime
import os
import textwrap

import pytest
from astropy.io import fits

from astra.contrib.classify import ContinuumTeff, HotCool
from astra.contrib.rocket import RocketSNR
from astra.daily import load_plan, preview_daily, run_daily
from astra.daily.tasks import day_directory
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.models.apogee import ApogeeVisitSpectrum as Visit
from astra.tools import synthetic
from daily_methods import Fragile

DAY1, DAY2 = datetime.date(2026, 12, 1), datetime.date(2026, 12, 2)

PLAN = """
migrate:
  - release: dr13
    species: apStar
    sas_base_dir: {sas}
pipelines:
  snr:
    task: snr
    inputs: [ApogeeCoaddedSpectrumInApStar]
    params: {{min_good_pixels: 50}}
  fragile:
    task: daily_methods.fragile
    requires: [snr]
  hot_cool:
    task: hot_cool
  continuum_teff:
    task: continuum_teff
products:
  astraAllStarRocketSNR:
    output: {products}/astraAllStarRocketSNR.fits
  astraAllFragile:
    product: daily_methods.Fragile
    output: {products}/astraAllFragile.fits
  astraAllStarContinuumTeff:
    output: {products}/astraAllStarContinuumTeff.fits
  mwmAllStar:
    output: {products}/mwmAllStar.fits
"""


@pytest.fixture
def day(tmp_path, db_url):
    """A pipelines file over an empty SAS tree, and the paths it uses."""
    sas, products = tmp_path / "sas", tmp_path / "products"
    path = tmp_path / "daily.yml"
    path.write_text(PLAN.format(sas=sas, products=products))
    return path, sas, products


def snapshot():
    """Every row the day may write, by spectrum, with its key and ``modified`` time."""
    models = {"Star": Star, "RocketSNR": RocketSNR, "Fragile": Fragile, "HotCool": HotCool, "ContinuumTeff": ContinuumTeff}
    return {name: {r.spectrum_pk: (getattr(r, "task_pk", None), r.modified) for r in model.select()}
            for name, model in models.items()}


def files(root):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, names in os.walk(root) for f in names}


def rows(path):
    """The spectrum_pk of every row of a product, whatever its HDU (named products have one per instrument)."""
    with fits.open(path) as hdul:
        return sorted(pk for hdu in hdul[1:] if hdu.name != "PROVENANCE"  # the records (docs/provenance.rst)
                      for pk in hdu.data["spectrum_pk"].tolist())


def by_name(summary):
    return {o.step.name: o for o in summary.outcomes}


def pending(outcome):
    return outcome.record["models"]["ApogeeCoaddedSpectrumInApStar"]["pending"]


def hot(pks):
    return {r.spectrum_pk for r in HotCool.select().where(HotCool.classification == "hot") if r.spectrum_pk in pks}


def test_two_days_only_the_new_spectra_are_done(day, tmp_path):
    path, sas, products = day
    synthetic.write_sample_tree(sas, 60, release="dr13", species="apStar", seed=1)
    plan = load_plan(path)

    first = run_daily(plan, DAY1)
    steps = by_name(first)
    assert first.exit_code == 1, first                      # fragile refused some spectra
    assert {o.status for o in first.outcomes} == {"ran"} and len(steps) == 9
    assert steps["migrate-dr13-apStar"].record["new"] == 60
    assert pending(steps["snr"]) == pending(steps["hot_cool"]) == 60
    refused = [pk for (pk,) in Star.select(Star.spectrum_pk).tuples() if pk % 4 == 0]
    assert steps["fragile"].record["problems"] == len(refused) > 0
    assert "failed spectra" in str(first)
    assert f"failed: fragile(spectrum_pk={refused[0]}): ValueError: fragile refuses spectrum {refused[0]}" in str(first)
    assert f"... {len(refused) - 5} more" in str(first)
    day1 = snapshot()
    assert len(day1["RocketSNR"]) == len(day1["Fragile"]) == len(day1["HotCool"]) == 60
    assert set(day1["ContinuumTeff"]) == hot(day1["Star"]) and 0 < len(day1["ContinuumTeff"]) < 60
    assert rows(products / "astraAllStarRocketSNR.fits") == sorted(day1["RocketSNR"])

    # day 2: 50 new files; first a dry run, which says so and changes nothing
    new = synthetic.write_sample_tree(sas, 50, release="dr13", species="apStar", seed=2)
    before_files = files(tmp_path / "output"), files(products)
    preview = {step.name: text for step, text in preview_daily(plan, DAY2)}
    assert preview["migrate-dr13-apStar"] == "would ingest 50 new and 0 changed files (60 unchanged)"
    assert "would run over 0 ApogeeCoaddedSpectrumInApStar spectra" in preview["snr"]
    assert "plus those the steps before it make due (50 new or changed there)" in preview["snr"]
    assert preview["astraAllStarRocketSNR"].startswith("after snr; would write")
    assert snapshot() == day1
    assert (files(tmp_path / "output"), files(products)) == before_files

    second = run_daily(plan, DAY2)
    steps = by_name(second)
    assert {o.status for o in second.outcomes} == {"ran"}
    assert steps["migrate-dr13-apStar"].record["text"].endswith("110 files: 50 new, 0 changed, 60 unchanged, 0 bad")
    assert steps["snr"].record["models"]["ApogeeCoaddedSpectrumInApStar"] == {
        "pending": 50, "done": 50, "failed": 0, "not_run": 0, "failures": []}
    day2 = snapshot()
    new_pks = set(day2["Star"]) - set(day1["Star"])
    assert len(new_pks) == 50
    assert {Star.get(Star.spectrum_pk == pk).path for pk in new_pks} == set(new.paths)
    # the 50 new spectra were analysed, with their downstream work (the hot ones only) ...
    for name in ("RocketSNR", "Fragile", "HotCool"):
        assert set(day2[name]) - set(day1[name]) == new_pks, name
    assert set(day2["ContinuumTeff"]) - set(day1["ContinuumTeff"]) == hot(new_pks)
    assert pending(steps["continuum_teff"]) == len(hot(new_pks)) > 0
    # ... and nothing else was touched
    for name, old in day1.items():
        assert {pk: day2[name][pk] for pk in old} == old, name
    # the products are updated
    assert rows(products / "astraAllStarRocketSNR.fits") == sorted(day2["RocketSNR"])
    assert rows(products / "astraAllFragile.fits") == sorted(day2["Fragile"])
    assert rows(products / "astraAllStarContinuumTeff.fits") == sorted(day2["ContinuumTeff"])
    assert rows(products / "mwmAllStar.fits") == sorted(day2["Star"])

    # a second run on day 2 does nothing, and says so
    state = snapshot(), files(tmp_path / "output"), files(products)
    again = run_daily(plan, DAY2)
    assert again.nothing_to_do and again.exit_code == 0
    assert {o.status for o in again.outcomes} == {"done earlier today"}
    assert "nothing to do" in str(again)
    assert (snapshot(), files(tmp_path / "output"), files(products)) == state

    # day 3: one hot spectrum's file changed; it alone is analysed again, downstream too
    (changed,) = sorted(hot(new_pks))[:1]
    star = Star.get(Star.spectrum_pk == changed)
    os.utime(star.path, (star.file_mtime + 60, star.file_mtime + 60))
    third = run_daily(plan, DAY2 + datetime.timedelta(days=1))
    steps = by_name(third)
    assert steps["migrate-dr13-apStar"].record["changed"] == 1
    assert [pending(steps[n]) for n in ("snr", "fragile", "hot_cool", "continuum_teff")] == [1, 1, 1, 1]
    day3 = snapshot()
    for name, old in day2.items():
        assert {pk for pk in old if day3[name][pk] != old[pk]} == {changed}, name

    # day 4 without new files: every step runs and finds nothing; the named products are
    # current and not rewritten (a results model's plain summary always is)
    state = snapshot(), files(products)
    fourth = run_daily(plan, DAY2 + datetime.timedelta(days=2))
    steps = by_name(fourth)
    assert [pending(steps[n]) for n in ("snr", "fragile", "hot_cool", "continuum_teff")] == [0, 0, 0, 0]
    written = {o.step.name: o.record["written"] for o in fourth.outcomes if o.step.kind == "product"}
    assert written == {"astraAllStarRocketSNR": False, "astraAllFragile": True, "astraAllStarContinuumTeff": False,
                       "mwmAllStar": False}
    after = files(products)
    assert {p for p in after if after[p] != state[1][p]} == {str(products / "astraAllFragile.fits")}
    assert snapshot() == state[0]


def test_a_failing_step_stops_only_the_steps_that_need_it(tmp_path, db_url):
    sas = tmp_path / "sas"
    synthetic.write_sample_tree(sas, 8, release="dr13", species="apStar", seed=3)
    path = tmp_path / "daily.yml"
    path.write_text(textwrap.dedent(f"""
        sas_base_dir: {sas}
        migrate:
          - {{release: dr13, species: apStar}}
          - {{release: dr13, species: apVisit}}
        pipelines:
          snr_star: {{task: snr, inputs: [ApogeeCoaddedSpectrumInApStar]}}
          snr_visit: {{task: snr, inputs: [ApogeeVisitSpectrum]}}
        products:
          astraAllStarRocketSNR: {{}}
    """))
    plan = load_plan(path)
    summary = run_daily(plan, DAY1)
    status = {o.step.name: (o.status, o.text) for o in summary.outcomes}
    assert summary.exit_code == 1
    assert status["migrate-dr13-apStar"][0] == status["snr_star"][0] == "ran"
    assert status["migrate-dr13-apVisit"] == ("failed", f"no apVisit files of dr13 found under {sas}")
    assert status["snr_visit"] == ("not run", "needs migrate-dr13-apVisit, which did not finish")
    assert status["astraAllStarRocketSNR"] == ("not run", "needs snr_visit, which did not finish")
    assert RocketSNR.select().count() == 8
    assert "1 failed, 2 not run" in str(summary)
    failed = [f for f in os.listdir(day_directory(DAY1)) if f.endswith(".failed.json")]
    assert failed == [f"migrate-dr13-apVisit-{plan.step('migrate-dr13-apVisit').key}.failed.json"]

    # the files arrive; the same day's next run does what failed, and what needed it, only
    synthetic.write_sample_tree(sas, 5, release="dr13", species="apVisit", seed=4)
    retry = run_daily(plan, DAY1)
    status = {o.step.name: o.status for o in retry.outcomes}
    assert status == {"migrate-dr13-apStar": "done earlier today", "snr_star": "done earlier today",
                      "migrate-dr13-apVisit": "ran", "snr_visit": "ran", "astraAllStarRocketSNR": "ran"}
    assert retry.exit_code == 0
    assert Visit.select().count() == 5 and RocketSNR.select().count() == 13
    assert not [f for f in os.listdir(day_directory(DAY1)) if f.endswith(".failed.json")]


@pytest.mark.luigid
def test_the_day_is_one_graph_in_luigid(tmp_path, db_url, luigid):
    sas = tmp_path / "sas"
    synthetic.write_sample_tree(sas, 4, release="dr13", species="apStar", seed=5)
    path = tmp_path / "daily.yml"
    path.write_text(f"migrate: [{{release: dr13, species: apStar, sas_base_dir: {sas}}}]\n"
                    "pipelines: {snr: {task: snr}}\nproducts: {astraAllStarRocketSNR: {}}\n")
    summary = run_daily(load_plan(path), DAY1, scheduler_host=luigid.host, scheduler_port=luigid.port)
    assert summary.exit_code == 0, summary
    done = luigid.api("task_list", status="DONE")
    families = sorted(info["name"] for info in done.values())
    assert families.count("Daily") == 1
    assert {"DailyMigrate", "DailyPipeline", "DailyProduct", "snr"} <= set(families)
    pipeline = next(t for t, info in done.items() if info["name"] == "DailyPipeline")
    migrate = next(t for t, info in done.items() if info["name"] == "DailyMigrate")
    root = next(t for t, info in done.items() if info["name"] == "Daily")
    graph = luigid.api("dep_graph", task_id=root)               # what luigid's UI draws
    assert migrate in graph[pipeline]["deps"] and pipeline in set().union(*(g["deps"] for g in graph.values()))


@pytest.mark.slurm
def test_a_pipeline_on_slurm(tmp_path, sqlite_url, monkeypatch, slurm_jobs_dir):
    import astra.config

    monkeypatch.setenv("ASTRA_DATABASE_URL", sqlite_url)
    (tmp_path / "empty-luigi.cfg").write_text("")
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(tmp_path / "empty-luigi.cfg"))
    astra.config.reload()
    sas = tmp_path / "sas"
    synthetic.write_sample_tree(sas, 6, release="dr13", species="apStar", seed=6, n_visits=1)
    path = tmp_path / "daily.yml"
    path.write_text(textwrap.dedent(f"""
        migrate: [{{release: dr13, species: apStar, sas_base_dir: {sas}}}]
        pipelines:
          snr:
            task: snr
            params: {{min_good_pixels: 50, use_pixel_mask: false}}
            srun: {{nodes: 1, procs: 2, time: "00:05:00", jobs_dir: {slurm_jobs_dir}}}
        products:
          astraAllStarRocketSNR: {{}}
    """))
    plan = load_plan(path)
    summary = run_daily(plan, DAY1)
    assert summary.exit_code == 0, summary
    entry = by_name(summary)["snr"].record["models"]["ApogeeCoaddedSpectrumInApStar"]
    assert (entry["pending"], entry["done"], entry["failed"], entry["srun_exit_status"]) == (6, 6, 0, 0), entry
    assert " srun --nodes 1 --procs 2 --time 00:05:00 " in entry["srun"]
    assert entry["srun"].endswith(" snr ApogeeCoaddedSpectrumInApStar --skip-failed -- --min-good-pixels 50 "
                                  "--use-pixel-mask false")
    assert RocketSNR.select().count() == 6
    assert by_name(summary)["astraAllStarRocketSNR"].record["rows"] == 6
    assert run_daily(plan, DAY1).nothing_to_do


def test_an_edited_step_runs_again_the_same_day_with_what_needs_it_only(tmp_path, sqlite_url, monkeypatch):
    import astra.config

    monkeypatch.setenv("ASTRA_DATABASE_URL", sqlite_url)
    astra.config.reload()
    sas = tmp_path / "sas"
    synthetic.write_sample_tree(sas, 3, release="dr13", species="apStar", seed=7)
    path = tmp_path / "daily.yml"
    text = (f"migrate: [{{release: dr13, species: apStar, sas_base_dir: {sas}}}]\n"
            "pipelines: {snr: {task: snr, params: {min_good_pixels: 50}}, hot_cool: {task: hot_cool}}\n"
            "products: {astraAllStarRocketSNR: {}}\n")
    path.write_text(text)
    assert run_daily(load_plan(path), DAY1).exit_code == 0
    path.write_text(text.replace("min_good_pixels: 50", "min_good_pixels: 60"))
    again = run_daily(load_plan(path), DAY1)
    assert {o.step.name: o.status for o in again.outcomes} == {
        "migrate-dr13-apStar": "done earlier today", "hot_cool": "done earlier today",
        "snr": "ran", "astraAllStarRocketSNR": "ran"}
    # the new parameter makes snr's results out of date (docs/provenance.rst): they are
    # recomputed, so the product holding them is written again
    assert by_name(again)["snr"].record["models"]["ApogeeCoaddedSpectrumInApStar"]["done"] == 3
    assert by_name(again)["astraAllStarRocketSNR"].record["written"] is True
