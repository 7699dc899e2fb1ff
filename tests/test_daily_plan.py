"""The pipelines file of ``astra daily``: checking, dependency order, step keys."""

import os
import textwrap

import pytest

import astra
from astra.daily.plan import DailyFileError, load_plan

EXAMPLE = os.path.join(os.path.dirname(astra.__file__), "etc", "daily.yml")

PLAN = """
migrate:
  - release: dr13
    species: apStar
pipelines:
  later:
    task: daily_methods.fragile
    requires: [snr]
  snr:
    task: snr
    inputs: [ApogeeCoaddedSpectrumInApStar]
    params: {min_good_pixels: 50}
products:
  astraAllStarRocketSNR: {}
  astraAllFragile:
    product: daily_methods.Fragile
  mwmAllStar:
    release: [dr13]
"""


def write(tmp_path, text, name="daily.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_shipped_example_loads_in_dependency_order():
    plan = load_plan(EXAMPLE)
    names = [s.name for s in plan.ordered()]
    assert names == ["migrate-dr13-apStar", "migrate-dr13-apVisit", "snr_star", "snr_visit", "hot_cool",
                     "continuum_teff", "astraAllStarRocketSNR", "astraAllVisitRocketSNR", "astraAllStarHotCool",
                     "astraAllStarContinuumTeff", "mwmAllStar", "mwmAllVisit"]
    assert plan.step("snr_star").requires == ("migrate-dr13-apStar",)       # the migration of its input
    assert plan.step("snr_visit").requires == ("migrate-dr13-apVisit",)
    assert plan.step("astraAllStarRocketSNR").requires == ("snr_star", "snr_visit")  # the pipelines writing RocketSNR
    assert plan.step("mwmAllStar").requires == ("migrate-dr13-apStar", "migrate-dr13-apVisit")  # the catalogue's
    assert plan.step("continuum_teff").requires == ("migrate-dr13-apStar", "hot_cool")
    assert plan.dependants("migrate-dr13-apVisit") == {"snr_visit", "astraAllStarRocketSNR", "astraAllVisitRocketSNR",
                                                        "mwmAllStar", "mwmAllVisit"}


def test_a_downstream_method_runs_after_the_pipeline_writing_its_upstream(tmp_path):
    plan = load_plan(write(tmp_path, """
        pipelines:
          teff: {task: continuum_teff}
          classes: {task: hot_cool}
    """))
    assert [s.name for s in plan.ordered()] == ["classes", "teff"]
    assert plan.step("teff").requires == ("classes",)       # from its HotCool parameter
    assert plan.step("teff").spec["upstream_models"] == ["HotCool"]


def test_order_follows_requires_not_file_order(tmp_path):
    plan = load_plan(write(tmp_path, PLAN))
    names = [s.name for s in plan.ordered()]
    assert names.index("snr") < names.index("later")
    assert plan.step("later").requires == ("migrate-dr13-apStar", "snr")
    assert plan.step("astraAllFragile").requires == ("later",)
    assert plan.step("snr").spec["params"] == {"min_good_pixels": 50}


def test_keys_change_with_the_step_and_what_it_needs_only(tmp_path):
    before = load_plan(write(tmp_path, PLAN))
    after = load_plan(write(tmp_path, PLAN.replace("min_good_pixels: 50", "min_good_pixels: 60"), "b.yml"))
    changed = {s.name for s in before.ordered() if s.key != after.step(s.name).key}
    assert changed == {"snr", "later", "astraAllStarRocketSNR", "astraAllFragile"}
    assert before.key != after.key
    again = load_plan(write(tmp_path, PLAN, "c.yml"))
    assert [s.key for s in again.ordered()] == [s.key for s in before.ordered()]


@pytest.mark.parametrize("old, new, message", [
    ("task: snr\n", "task: snrr\n", "pipelines.snr.task: no task registered as 'snrr' (did you mean 'snr'?) (registered: "),
    ("task: daily_methods.fragile", "task: daily_methods.nothing", "pipelines.later.task: module 'daily_methods' has no task 'nothing'"),
    ("requires: [snr]", "requires: [snrr]", "pipelines.later.requires: no pipeline 'snrr' (did you mean 'snr'?)"),
    ("inputs: [ApogeeCoaddedSpectrumInApStar]", "inputs: [BossCombined]", "pipelines.snr.inputs: snr reads"),
    ("params: {min_good_pixels: 50}", "params: {min_good: 50}", "pipelines.snr.params: snr has no parameter 'min_good'"),
    ("params: {min_good_pixels: 50}", "params: {min_good_pixels: many}", "pipelines.snr.params: snr: parameter 'min_good_pixels'"),
    ("inputs:", "input:", "pipelines.snr: unknown setting 'input' (did you mean 'inputs'?)"),
    ("species: apStar", "species: apStr", "migrate[0]:"),
    ("astraAllStarRocketSNR: {}", "astraAllStarRocketSNRR: {}", "products.astraAllStarRocketSNRR: "),
    ("product: daily_methods.Fragile", "product: daily_methods.Nothing", "products.astraAllFragile.product: "),
    ("release: [dr13]", "relase: [dr13]", "products.mwmAllStar: unknown setting 'relase' (did you mean 'release'?)"),
    ("migrate:", "migrations:", "top level: unknown setting 'migrations'"),
    ("  later:\n", "  snr/2:\n", "snr/2: a step name is letters"),
    ("  later:\n", "  astraAllFragile:\n", "astraAllFragile: two steps have this name"),
])
def test_errors_name_the_file_and_the_entry(tmp_path, old, new, message):
    assert old in PLAN
    path = write(tmp_path, PLAN.replace(old, new, 1))
    with pytest.raises(DailyFileError) as error:
        load_plan(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_a_cycle_is_named(tmp_path):
    text = PLAN.replace("    task: snr\n", "    task: snr\n    requires: [later]\n")
    with pytest.raises(DailyFileError, match="the requirements form a cycle: (later -> snr -> later|snr -> later -> snr)"):
        load_plan(write(tmp_path, text))


def test_unreadable_and_empty_files(tmp_path):
    with pytest.raises(DailyFileError, match="cannot read the pipelines file .*missing.yml"):
        load_plan(tmp_path / "missing.yml")
    with pytest.raises(DailyFileError, match="not valid YAML"):
        load_plan(write(tmp_path, "pipelines: [unclosed\n"))
    with pytest.raises(DailyFileError, match="no steps"):
        load_plan(write(tmp_path, "workers: 2\n"))
    with pytest.raises(DailyFileError, match="workers: expected a whole number of at least 1"):
        load_plan(write(tmp_path, "workers: 0\n"))


def test_a_pipeline_on_slurm_is_checked_and_becomes_an_astra_srun_command(tmp_path):
    from astra.daily.steps import srun_argv

    text = PLAN.replace("    params: {min_good_pixels: 50}\n",
                        "    params: {min_good_pixels: 50}\n    srun: {nodes: 2, procs: 3, time: '01:00:00'}\n")
    plan = load_plan(write(tmp_path, text))
    argv = srun_argv(plan.step("snr"), "ApogeeCoaddedSpectrumInApStar")
    assert argv[1:] == ["srun", "--nodes", "2", "--procs", "3", "--time", "01:00:00", "snr",
                        "ApogeeCoaddedSpectrumInApStar", "--skip-failed", "--", "--min-good-pixels", "50"]
    with pytest.raises(DailyFileError, match=r"pipelines.snr.srun: unknown setting 'node' \(did you mean 'nodes'\?\)"):
        load_plan(write(tmp_path, text.replace("nodes: 2", "node: 2"), "b.yml"))
    with pytest.raises(DailyFileError, match="pipelines.snr.srun.procs: expected a whole number of at least 1"):
        load_plan(write(tmp_path, text.replace("procs: 3", "procs: 0"), "c.yml"))
