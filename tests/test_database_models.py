"""Results models: rules checked at class creation, category headers, flags, rows."""

import json

import pytest

import astra
from astra.database import RESULT_MODELS, BaseResult, ModelDefinitionError, get_model
from astra.fields import BitField, FloatField, TextField, flag
from astra.contrib.rocket.results import EstimateSNRResult
from astra.tasks import BaseTask


class ModelTask(BaseTask):
    obj = astra.Parameter(batch_method=tuple)
    release = astra.Parameter(default="dr17")
    mjd = astra.Parameter(default="59000")
    fiber = astra.Parameter(default="not-a-number")


class CategorisedResult(BaseResult):
    """A model with several groups and its own bit field."""

    #> Stellar parameters
    teff = FloatField(null=True, unit="K", help_text="Effective temperature")
    logg = FloatField(null=True, unit="dex", help_text="Surface gravity")

    #> Summary statistics
    rchi2 = FloatField(null=True, help_text="Reduced chi-squared")
    result_flags = BitField(help_text="Method flags")
    flag_bad_fit = result_flags.flag(2**0, help_text="Fit is bad")
    flag_edge = result_flags.flag(help_text="Grid edge")
    flag_not_converged = flag(2**1, help_text="Fit did not converge")


def test_help_text_longer_than_47_characters_is_refused():
    with pytest.raises(ModelDefinitionError, match=r"TooLong\.value: help_text has 48 characters"):

        class TooLong(BaseResult):
            value = FloatField(null=True, help_text="x" * 48)


def test_help_text_is_required():
    with pytest.raises(ModelDefinitionError, match="NoHelp.value: give help_text"):

        class NoHelp(BaseResult):
            value = FloatField(null=True)


def test_result_columns_must_be_nullable():
    with pytest.raises(ModelDefinitionError, match="must be nullable"):

        class NotNull(BaseResult):
            value = FloatField(help_text="A value")


def test_flag_help_text_is_checked_too():
    with pytest.raises(ModelDefinitionError, match="flag_x: help_text has"):

        class LongFlag(BaseResult):
            flag_x = flag(2**3, help_text="y" * 60)


def test_duplicate_flag_bits_are_refused():
    with pytest.raises(ModelDefinitionError, match=r"Clash\.flag_\w+: bit 0 of flags is already flag_"):

        class Clash(BaseResult):
            flag_again = flag(2**0, help_text="Same bit as failed")


def test_category_headers_from_source():
    headers = CategorisedResult.category_headers()
    assert ("Stellar parameters", "teff") in headers
    assert ("Summary statistics", "rchi2") in headers
    assert headers[0] == ("Identity", "task_id"), "base categories come first"
    assert [h for h, _ in headers] == ["Identity", "Data model keys", "Timing and flags", "Stellar parameters", "Summary statistics"]


def test_flags_are_bound_to_the_models_own_columns():
    flags = CategorisedResult.flag_fields()
    assert list(flags) == ["flag_failed", "flag_not_converged", "flag_bad_fit", "flag_edge"]
    assert flags["flag_edge"].value == 2
    for f in flags.values():
        assert f.field.model is CategorisedResult
    result = CategorisedResult(flag_not_converged=True)
    result.flag_edge = True
    assert result.flags == 2 and result.result_flags == 2
    assert result.flag_not_converged and not result.flag_failed


def test_registry_and_lookup():
    assert RESULT_MODELS["estimatesnr"] is EstimateSNRResult
    assert get_model("estimatesnr") is EstimateSNRResult
    assert get_model("EstimateSNRResult") is EstimateSNRResult
    assert get_model("astra.database.examples.EstimateSNRResult") is EstimateSNRResult
    assert get_model("categorised") is CategorisedResult
    with pytest.raises(LookupError, match="no results model named 'nope'"):
        get_model("nope")
    with pytest.raises(LookupError, match="is not a results model"):
        get_model("astra.database.examples.flag")


def test_row_for_task_fills_identity_keys_and_version(caplog):
    task = ModelTask(obj="2M0001")
    row = EstimateSNRResult.row_for_task(
        task, {"snr": 12.5, "flag_low_snr": True}, timing={"setup": 1.5, "process": 0.25}
    )
    assert row["task_id"] == task.task_id
    assert row["task_family"] == "ModelTask"
    assert json.loads(row["parameters"])["obj"] == "2M0001"
    assert (row["astra_version_major"], row["astra_version_minor"]) == astra.version_info()
    assert row["astra_version"] == astra.__version__
    assert (row["release"], row["obj"], row["mjd"]) == ("dr17", "2M0001", 59000)
    assert row["fiber"] is None and "not a valid" in caplog.text
    assert row["snr"] == 12.5 and row["flags"] == 2
    assert (row["t_overhead"], row["t_elapsed"]) == (1.5, 0.25)


def test_timing_of_a_batch_is_the_setup_shared_and_the_spectrum_alone():
    """One meaning for both key strategies: t_overhead is the setup shared among the spectra."""
    row = EstimateSNRResult.row_for_task(ModelTask(obj="x"), timing={"setup": 3.0, "process": 0.5, "spectra": 4})
    assert (row["t_overhead"], row["t_elapsed"]) == (0.75, 0.5)
    row = EstimateSNRResult.row_for_task(ModelTask(obj="x"), timing={"overhead": 0.1, "elapsed": 0.2})
    assert (row["t_overhead"], row["t_elapsed"]) == (0.1, 0.2)


def test_old_names_read_and_write_the_one_column_or_flag():
    result = EstimateSNRResult(t_setup=2.0, t_process=0.5, flag_runtime_exception=True)
    assert (result.t_overhead, result.t_elapsed, result.flag_failed, result.flags) == (2.0, 0.5, True, 1)
    assert EstimateSNRResult.t_process is EstimateSNRResult.t_elapsed
    assert EstimateSNRResult.flag_runtime_exception is EstimateSNRResult.flag_failed
    assert "t_setup" not in EstimateSNRResult._meta.fields and "flag_runtime_exception" not in EstimateSNRResult.flag_fields()
    row = EstimateSNRResult.row_for_task(ModelTask(obj="x"), {"flag_runtime_exception": True})
    assert row["flags"] == 1


def test_failed_row_has_flag_and_error_and_no_values():
    row = EstimateSNRResult.row_for_task(ModelTask(obj="x"), failed=True, error="ValueError: boom")
    assert row["flags"] == 1 and row["error"] == "ValueError: boom" and row["snr"] is None


def test_unknown_values_are_refused_with_the_valid_names():
    with pytest.raises(TypeError, match="no result column or flag named 'snrr'.*snr, snr_visits"):
        EstimateSNRResult.row_for_task(ModelTask(obj="x"), {"snrr": 1.0})
    with pytest.raises(TypeError, match="'task_id'"):
        EstimateSNRResult.row_for_task(ModelTask(obj="x"), {"task_id": "forged"})


def test_text_field_units_are_kept():
    class WithUnit(BaseResult):
        name = TextField(null=True, unit="", help_text="A name")

    assert WithUnit.name.unit == ""
    assert CategorisedResult.teff.unit == "K"
