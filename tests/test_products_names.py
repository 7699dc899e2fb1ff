"""Product names (astra.products.names): how <Method> is resolved, typos, paths."""

import os
import sys
import textwrap

import pytest

import astra
import astra.config
from astra.contrib.rocket import RocketSNR, snr
from astra.contrib.rocket.results import EstimateSNRResult
from astra.products import Product, product_path, resolve_product

MAJOR_MINOR = "{}.{}".format(*astra.version_info())


@pytest.fixture
def no_model_named_rocket(monkeypatch):
    """Hide tests/task_methods.py's ``Rocket`` model (imported by other test modules): with it,
    ``astraAllStarRocket`` names that model (see test_a_users_model_is_found_by_its_own_name)."""
    from astra.database.models import RESULT_MODELS

    monkeypatch.delitem(RESULT_MODELS, "rocket", raising=False)


@pytest.mark.parametrize("name", ["astraAllStarRocketSNR", "astraallstarrocketsnr", "astraAllStarRocket_SNR",
                                  "astraAllStarSnr"])
def test_model_and_task_names_find_the_same_product(name, no_model_named_rocket):
    product = resolve_product(name)
    assert product == Product("astraAllStarRocketSNR", "method", "star", RocketSNR)


def test_a_package_with_two_methods_is_no_alias():
    from astra.contrib.classify import HotCool

    assert resolve_product("astraAllStarHotCool").model is HotCool
    assert resolve_product("astraAllStarhot_cool").model is HotCool  # the registered task name
    with pytest.raises(LookupError, match="no loaded results model is named 'Classify'"):
        resolve_product("astraAllStarClassify")  # astra.contrib.classify holds two methods


def test_a_name_no_loaded_model_has_is_refused_with_the_candidates(no_model_named_rocket):
    """Seed 001's ``astra create astraAllStarRocket`` when the user's ``Rocket`` is not loaded:
    refused, never the built-in RocketSNR's product."""
    with pytest.raises(LookupError) as error:
        resolve_product("astraAllStarRocket")
    message = str(error.value)
    assert "no loaded results model is named 'Rocket'" in message and "\n" not in message
    assert "known: " in message and "astraAllStarRocketSNR" in message
    assert "result_modules" in message and "astra create astraAllStar mymodule.my_task" in message


def test_a_users_model_is_found_by_its_own_name(monkeypatch, capsys):
    from astra.database.models import RESULT_MODELS
    from task_methods import Rocket

    monkeypatch.setitem(RESULT_MODELS, "rocket", Rocket)
    assert resolve_product("astraAllStarRocket").model is Rocket
    assert resolve_product("astraAllStarRocketSNR").model is RocketSNR
    assert resolve_product("astraAllStarSnr").model is RocketSNR
    assert capsys.readouterr().err == ""


def test_a_name_two_models_answer_to_is_refused(monkeypatch):
    from astra.database.models import RESULT_MODELS
    from task_methods import Rocket

    before = dict(RESULT_MODELS)
    try:
        RESULT_MODELS["snr"] = type("Snr", (Rocket,), {"__module__": "task_methods"})  # and the task "snr"
        with pytest.raises(LookupError, match=r"astraAllStarSnr is ambiguous: 2 models answer to 'Snr'"):
            resolve_product("astraAllStarSnr")
    finally:
        RESULT_MODELS.clear()
        RESULT_MODELS.update(before)


def test_visit_catalogue_and_summary_names(no_model_named_rocket):
    assert resolve_product("astraAllVisitRocketSNR") == Product("astraAllVisitRocketSNR", "method", "visit", RocketSNR)
    assert resolve_product("mwmAllStar") == Product("mwmAllStar", "catalogue", "star")
    assert resolve_product("MWMALLVISIT") == Product("mwmAllVisit", "catalogue", "visit")
    summary = resolve_product("estimatesnr")
    assert (summary.name, summary.kind, summary.model) == ("astraAllEstimateSNR", "summary", EstimateSNRResult)


def test_method_given_apart():
    assert resolve_product("astraAllStar", method=snr).model is RocketSNR
    assert resolve_product("astraAllStar", method=RocketSNR).model is RocketSNR
    assert resolve_product("astraAllVisit", method="astra.contrib.rocket.snr").name == "astraAllVisitRocketSNR"
    assert resolve_product("astraAllVisit", method="astra.contrib.rocket.results.RocketSNR").model is RocketSNR
    assert resolve_product("astraAllVisit", method="snr").model is RocketSNR
    with pytest.raises(LookupError, match="needs a method"):
        resolve_product("astraAllStar")
    with pytest.raises(LookupError, match="give the method once"):
        resolve_product("astraAllStarRocket", method="snr")
    with pytest.raises(LookupError, match="takes no method"):
        resolve_product("mwmAllStar", method="snr")


def test_an_unregistered_method_in_a_users_module(tmp_path, monkeypatch):
    (tmp_path / "my_products_methods.py").write_text(textwrap.dedent('''
        from typing import Iterable
        from astra import task
        from astra.fields import FloatField
        from astra.models.boss import BossVisitSpectrum
        from astra.models.pipeline import PipelineOutputMixin

        class LineIndex(PipelineOutputMixin):
            """A line index."""
            index = FloatField(null=True, help_text="Line index")

        @task
        def line_index(spectra: Iterable[BossVisitSpectrum]) -> Iterable[LineIndex]:
            yield from ()
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    product = resolve_product("astraAllVisit", method="my_products_methods.line_index")
    assert product.name == "astraAllVisitLineIndex" and product.model.__name__ == "LineIndex"
    # Once imported (or listed in the result_modules setting) its model's name finds it too.
    assert resolve_product("astraAllVisitLineIndex").model is product.model
    sys.modules.pop("my_products_methods", None)


def test_typos_get_a_did_you_mean(no_model_named_rocket):
    with pytest.raises(LookupError, match=r"no loaded results model is named 'Rockt'.*did you mean 'astraAllStarRocketSNR'"):
        resolve_product("astraAllStarRockt")
    with pytest.raises(LookupError, match=r"did you mean 'astraAllVisitRocketSNR'"):
        resolve_product("astraAllVisitRocketSN")
    with pytest.raises(LookupError, match=r"did you mean 'mwmAllStar'"):
        resolve_product("mwmAllStr")
    with pytest.raises(LookupError, match=r"did you mean 'astraAllStarRocketSNR'"):
        resolve_product("astraAllStrRocketSNR")  # a typo in the prefix
    with pytest.raises(LookupError, match="known: .*astraAllStarRocketSNR"):
        resolve_product("astraAllStarZzzzzzzz")


def test_a_registered_methods_model_has_its_plain_summary_by_name():
    from astra.contrib.classify import HotCool

    assert resolve_product("hotcool") == Product("astraAllHotCool", "summary", None, HotCool)


def test_results_keyed_by_task_have_only_the_plain_summary():
    with pytest.raises(LookupError, match=r"keyed by task.*astra create EstimateSNRResult"):
        resolve_product("astraAllStarEstimateSNR")


def test_paths_follow_release_and_version():
    base = os.path.join(astra.config.get("output_dir"), "products")
    assert product_path("mwmAllStar") == os.path.join(base, f"mwmAllStar-{MAJOR_MINOR}.fits")
    assert product_path("astraAllVisitSnr", "dr19") == os.path.join(base, "dr19", f"astraAllVisitRocketSNR-{MAJOR_MINOR}.fits")
    assert product_path("estimatesnr", "dr19") == os.path.join(base, f"astraAllEstimateSNR-{MAJOR_MINOR}.fits")
