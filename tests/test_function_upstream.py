"""Downstream methods: a ``@task`` whose input is another method's results (SQLite and PostgreSQL).

The upstream here, ``parity``, classes catalogue spectra "even" or "odd" by a stored number
(so a test can change one spectrum's class by rewriting its row); the downstream, ``evens``,
runs only on the spectra classed "even".
"""

import time
from typing import Iterable, Optional

import peewee

import pytest

import astra
import astra.config
from astra import task
from astra.cli import main as astra_main
from astra.fields import BigIntegerField, IntegerField, TextField
from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.models.apogee import ApogeeVisitSpectrum as Visit
from astra.models.pipeline import PipelineOutputMixin
from astra.tasks.function import TaskFunctionError
from astra.tasks.function_query import done_keys, pending_spectra
from astra.tasks.function_upstream import UpstreamError, UpstreamResults, same_source, writer_of
from astra.tools import synthetic

MODEL = "ApogeeCoaddedSpectrumInApStar"
#: spectrum_pk -> the number ``parity`` classes (set by the tests; default: the key itself).
NUMBERS = {}


class Parity(PipelineOutputMixin):
    """Even or odd (the upstream)."""

    #> Class
    number = IntegerField(null=True, help_text="The number classed")
    parity = TextField(null=True, help_text="even or odd")


class Evens(PipelineOutputMixin):
    """Half of an even number (the downstream)."""

    #> Half
    half = IntegerField(null=True, help_text="number / 2")
    parity_pk = BigIntegerField(null=True, help_text="task_pk of the Parity row used")


@task
def parity(spectra: Iterable[Star]) -> Iterable[Parity]:
    for spectrum in spectra:
        number = NUMBERS.get(spectrum.spectrum_pk, spectrum.spectrum_pk)
        yield Parity.from_spectrum(spectrum, number=number, parity="odd" if number % 2 else "even")


#: spectrum_pk of every spectrum ``evens`` was handed, in order (this process).
SEEN = []


@task
def evens(spectra: Iterable[Star], classes: Parity = Parity.parity == "even", offset: int = 0) -> Iterable[Evens]:
    for spectrum in spectra:
        SEEN.append(spectrum.spectrum_pk)
        row = classes[spectrum]
        yield Evens.from_spectrum(spectrum, half=row.number // 2 + offset, parity_pk=row.task_pk)


class Halves(PipelineOutputMixin):
    """Half of an even number, by SDSS Astra's way of writing a downstream method."""

    #> Half
    half = IntegerField(null=True, help_text="number / 2")


@task
def halves(
    spectra: Optional[Iterable[Star]] = (
        Star.select()
        .join(Parity, on=(Parity.spectrum_pk == Star.spectrum_pk))
        .where(Parity.parity == "even")
    ),
) -> Iterable[Halves]:
    for spectrum in spectra:
        SEEN.append(spectrum.spectrum_pk)
        yield Halves.from_spectrum(spectrum, half=spectrum.spectrum_pk // 2)


@pytest.fixture
def catalogue(db_url, tmp_path):
    """Six synthetic apStar spectra in the catalogue (``astra migrate``); their keys in order."""
    synthetic.write_sample_tree(str(tmp_path / "sas"), 6, release="dr13", species="apStar", seed=5, n_visits=1)
    astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir", str(tmp_path / "sas"),
                "--no-progress"])
    NUMBERS.clear()
    SEEN.clear()
    return [s.spectrum_pk for s in Star.select().order_by(Star.spectrum_pk)]


def keys_of(query):
    return [s.spectrum_pk for s in query]


def modified(model):
    return {r.spectrum_pk: r.modified for r in model.select()}


def even(keys):
    return [k for k in keys if k % 2 == 0]


def test_the_upstream_parameter_is_not_a_luigi_parameter():
    assert list(evens.upstreams) == ["classes"] and evens.upstreams["classes"].model is Parity
    assert list(evens.parameters) == ["offset"]
    assert "classes" not in dict(evens.task_class.get_params())
    assert writer_of(Parity) is parity


def test_downstream_runs_only_on_the_chosen_class(catalogue):
    assert list(evens(Star.select())) == []  # no upstream results yet: nothing is chosen
    list(parity(Star.select()))
    results = list(evens(Star.select()))
    assert [r.spectrum_pk for r in results] == even(catalogue) == SEEN
    upstream = {r.spectrum_pk: r for r in Parity.select()}
    assert all(r.half == r.spectrum_pk // 2 and r.parity_pk == upstream[r.spectrum_pk].task_pk for r in results)
    assert sorted(modified(Evens)) == even(catalogue)


def test_a_call_may_give_another_condition(catalogue):
    list(parity(Star.select()))
    odd = [k for k in catalogue if k % 2]
    assert [r.spectrum_pk for r in evens(Star.select(), classes=Parity.parity == "odd")] == odd
    assert [r.spectrum_pk for r in evens(list(Star.select()), classes=None)] == catalogue  # any result


def test_pending_follows_upstream_changes_for_that_spectrum_only(catalogue):
    list(parity(Star.select()))
    assert keys_of(pending_spectra(Star, evens)) == even(catalogue)
    assert astra_main(["run", "test_function_upstream.evens", MODEL]) == 0
    assert keys_of(pending_spectra(Star, evens)) == []
    before = modified(Evens)
    assert sorted(before) == even(catalogue)

    # one upstream result is rewritten (same class): that spectrum, and only it, is picked again
    target = even(catalogue)[0]
    time.sleep(0.01)
    list(parity(Star.select().where(Star.spectrum_pk == target)))
    assert keys_of(pending_spectra(Star, evens)) == [target]
    assert done_keys(Star, evens, catalogue) == set(catalogue) - {target}
    SEEN.clear()
    assert astra_main(["run", "test_function_upstream.evens", MODEL]) == 0
    assert SEEN == [target]
    after = modified(Evens)
    assert after[target] > before[target]
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}
    assert keys_of(pending_spectra(Star, evens)) == []


def test_a_spectrum_that_changes_class(catalogue, capsys):
    list(parity(Star.select()))
    list(evens(Star.select()))
    odd, even_one = [k for k in catalogue if k % 2][0], even(catalogue)[0]
    NUMBERS.update({odd: 10, even_one: 11})  # the odd one becomes even and the even one odd
    time.sleep(0.01)
    list(parity(Star.select().where(Star.spectrum_pk.in_([odd, even_one]))))
    # the new member of the class needs work; the one that left it has nothing to do
    assert keys_of(pending_spectra(Star, evens)) == [odd]
    assert done_keys(Star, evens, [odd, even_one]) == {even_one}
    capsys.readouterr()
    assert astra_main(["run", "test_function_upstream.evens", MODEL]) == 0
    assert "1 spectra done" in capsys.readouterr().out
    assert {r.spectrum_pk: r.half for r in Evens.select()}[odd] == 5
    assert astra_main(["run", "test_function_upstream.evens", MODEL]) == 0
    assert "chosen by its upstream (a Parity result with parity == 'even')" in capsys.readouterr().out


def test_where_and_limit_apply_with_an_upstream(catalogue):
    list(parity(Star.select()))
    first = even(catalogue)[0]
    # the catalogue's own column names stay unambiguous: the upstream is asked in a subquery
    assert keys_of(pending_spectra(Star, evens, where=f"spectrum_pk <> {first}")) == even(catalogue)[1:]
    assert keys_of(pending_spectra(Star, evens, limit=1)) == [first]


def test_the_luigi_task_runs_its_upstream_first(catalogue):
    tasks = [evens.task_class(spectrum_pk=tuple(catalogue))]
    assert {type(t).__name__ for t in tasks[0].requires()} == {"parity"}
    summary = astra.build(tasks)
    assert summary.success and not summary.failed, summary
    # the odd spectra had nothing to do once classed: counted as already complete, not as run
    assert (summary.done, summary.skipped) == (len(catalogue), len(catalogue) - len(even(catalogue))), summary
    assert sorted(modified(Parity)) == catalogue
    assert sorted(modified(Evens)) == even(catalogue)
    assert tasks[0].complete()  # the odd ones have nothing to do
    assert astra.build(tasks).skipped == len(catalogue)


def test_a_spectrum_without_its_upstream_result_fails_alone_in_luigi(catalogue, monkeypatch):
    list(parity(Star.select().where(Star.spectrum_pk != even(catalogue)[0])))
    monkeypatch.setattr(evens.task_class, "requires", lambda self: [])  # as if the upstream were unknown
    summary = astra.build([evens.task_class(spectrum_pk=tuple(catalogue))])
    assert len(summary.failed) == 1
    assert f"no Parity result for spectrum_pk {even(catalogue)[0]}" in summary.failed[0][1]
    assert sorted(modified(Evens)) == even(catalogue)[1:]


def test_the_function_receives_the_upstream_rows(catalogue):
    list(parity(Star.select()))
    received = []

    @task
    def look(spectra: Iterable[Star], classes: Parity) -> Iterable[Evens]:
        received.append(classes)
        for spectrum in spectra:
            yield Evens.from_spectrum(spectrum, half=classes[spectrum.spectrum_pk].number)

    assert len(list(look(Star.select(), write_to_database=False))) == len(catalogue)
    (classes,) = received
    assert isinstance(classes, UpstreamResults) and len(classes) == len(catalogue)
    with pytest.raises(KeyError, match="no Parity result for spectrum_pk 999"):
        classes[999]


def test_bad_upstream_declarations_are_errors_naming_the_function():
    with pytest.raises(UpstreamError, match="bad.*condition on Parity's columns"):

        @task
        def bad(spectra: Iterable[Star], classes: Parity = "even") -> Iterable[Evens]:
            yield from ()

    with pytest.raises(TaskFunctionError, match="own results model"):

        @task
        def itself(spectra: Iterable[Star], previous: Evens = None) -> Iterable[Evens]:
            yield from ()


def test_results_in_files_cannot_feed_a_downstream(catalogue, monkeypatch, tmp_path):
    (tmp_path / "files.yml").write_text("results_output: files\n")
    monkeypatch.setenv("ASTRA_CONFIG", str(tmp_path / "files.yml"))
    astra.config.reload()
    with pytest.raises(UpstreamError, match="results_output setting is 'files'"):
        list(evens(Star.select()))
    with pytest.raises(UpstreamError, match="results_output setting is 'files'"):
        pending_spectra(Star, evens)


# ---------------------------------------------------------------------- SDSS Astra's way: a default query


def test_a_default_query_joined_with_the_upstream(catalogue, capsys):
    assert halves.input_models == (Star,) and halves.spectra_query.upstream_models == (Parity,)
    list(parity(Star.select()))
    assert keys_of(pending_spectra(Star, halves)) == even(catalogue)
    assert astra_main(["run", "test_function_upstream.halves", MODEL]) == 0
    assert SEEN == even(catalogue) and sorted(modified(Halves)) == even(catalogue)
    before = modified(Halves)
    target = even(catalogue)[-1]
    time.sleep(0.01)
    list(parity(Star.select().where(Star.spectrum_pk == target)))
    assert keys_of(pending_spectra(Star, halves)) == [target]
    assert done_keys(Star, halves, catalogue) == set(catalogue) - {target}  # the odd ones: nothing to do
    SEEN.clear()
    assert [r.spectrum_pk for r in halves()] == [target]  # no spectra given: those that need it
    after = modified(Halves)
    assert after[target] > before[target]
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}
    capsys.readouterr()
    assert astra_main(["run", "test_function_upstream.halves", MODEL]) == 0
    assert "nothing to do" in capsys.readouterr().out
    # spectra given to a call replace the default query, as in SDSS Astra
    assert [r.spectrum_pk for r in halves(Star.select(), write_to_database=False)] == catalogue


def test_a_default_query_in_luigi(catalogue):
    task_ = halves.task_class(spectrum_pk=tuple(catalogue))
    assert [type(t).__name__ for t in task_.requires()] == ["parity"]
    summary = astra.build([task_])
    assert summary.success and not summary.failed, summary
    assert sorted(modified(Halves)) == even(catalogue)
    assert task_.complete()


def test_a_default_query_must_not_join_the_methods_own_results():
    with pytest.raises(UpstreamError, match="joins its own results \\(Halves\\); leave that join out"):

        @task
        def corv_as_written(
            spectra: Iterable[Star] = (
                Star.select()
                .join(Parity, on=(Parity.spectrum_pk == Star.spectrum_pk))
                .switch(Star)
                .join(Halves, peewee.JOIN.LEFT_OUTER, on=(Halves.spectrum_pk == Star.spectrum_pk))
                .where((Parity.parity == "even") & Halves.spectrum_pk.is_null())
            ),
        ) -> Iterable[Halves]:
            yield from ()

    with pytest.raises(TaskFunctionError, match="must be a query of catalogue spectra"):

        @task
        def not_a_query(spectra: Iterable[Star] = [1, 2]) -> Iterable[Halves]:
            yield from ()


# ---------------------------------------------------------------------- a star's class, its visits' method


class VisitHalves(PipelineOutputMixin):
    """Per visit: half the number its star was classed by."""

    #> Half
    half = IntegerField(null=True, help_text="The star's number / 2")
    parity_pk = BigIntegerField(null=True, help_text="task_pk of the star's Parity row")


@task
def visit_halves(spectra: Iterable[Visit], star: Parity = same_source(Parity.parity == "even")) -> Iterable[VisitHalves]:
    for spectrum in spectra:
        SEEN.append(spectrum.spectrum_pk)
        row = star[spectrum]
        yield VisitHalves.from_spectrum(spectrum, half=row.number // 2, parity_pk=row.task_pk)


@pytest.fixture
def stars_and_visits(db_url, tmp_path):
    """Four synthetic apStar files and two apVisit files of each star; ``{star pk: [visit pks]}``."""
    sas = str(tmp_path / "sas")
    stars = synthetic.write_sample_tree(sas, 4, release="dr13", species="apStar", seed=7, n_visits=2)
    visits = synthetic.write_sample_tree(sas, 8, release="dr13", species="apVisit", seed=8)
    for i, (keys, path) in enumerate(zip(visits, visits.paths)):
        synthetic.write_apvisit(path, obj=stars[i // 2]["obj"], plate=keys["plate"], mjd=keys["mjd"],
                                fiber=keys["fiber"], seed=i)
    for species in ("apStar", "apVisit"):
        astra_main(["migrate", "--release", "dr13", "--species", species, "--sas-base-dir", sas, "--no-progress"])
    NUMBERS.clear()
    SEEN.clear()
    out = {}
    for star in Star.select():
        out[star.spectrum_pk] = sorted(v.spectrum_pk for v in Visit.select().where(Visit.source_pk == star.source_pk))
    assert all(len(v) == 2 for v in out.values()), out
    return out


def test_a_stars_class_chooses_its_visits(stars_and_visits):
    assert visit_halves.upstreams["star"].by == "source_pk"
    assert visit_halves.task_class(spectrum_pk=1).requires() == []  # the upstream reads other spectra
    list(parity(Star.select()))
    chosen = sorted(v for star, vs in stars_and_visits.items() if star % 2 == 0 for v in vs)
    assert keys_of(pending_spectra(Visit, visit_halves)) == chosen
    assert astra_main(["run", "test_function_upstream.visit_halves", "ApogeeVisitSpectrum"]) == 0
    rows = {r.spectrum_pk: r for r in VisitHalves.select()}
    assert sorted(rows) == chosen
    stars = {r.source_pk: r for r in Parity.select()}
    assert all(r.parity_pk == stars[r.source_pk].task_pk for r in rows.values())

    # the star is classed again: both of its visits, and only they, need work again
    star = sorted(s for s in stars_and_visits if s % 2 == 0)[0]
    before = modified(VisitHalves)
    time.sleep(0.01)
    list(parity(Star.select().where(Star.spectrum_pk == star)))
    assert keys_of(pending_spectra(Visit, visit_halves)) == stars_and_visits[star]
    SEEN.clear()
    assert astra_main(["run", "test_function_upstream.visit_halves", "ApogeeVisitSpectrum"]) == 0
    assert sorted(SEEN) == stars_and_visits[star]
    after = modified(VisitHalves)
    assert all(after[v] > before[v] for v in stars_and_visits[star])
    assert {k: v for k, v in after.items() if k not in stars_and_visits[star]} == {
        k: v for k, v in before.items() if k not in stars_and_visits[star]
    }
    # a visit whose star has no class fails alone in Luigi, naming what is missing
    Parity.delete().where(Parity.spectrum_pk == star).execute()
    VisitHalves.delete().where(VisitHalves.spectrum_pk.in_(stars_and_visits[star])).execute()
    summary = astra.build([visit_halves.task_class(spectrum_model="ApogeeVisitSpectrum",
                                                   spectrum_pk=tuple(stars_and_visits[star]))])
    assert len(summary.failed) == 2 and "no Parity (of its source) result" in summary.failed[0][1]
