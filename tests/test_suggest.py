"""Did-you-mean suggestions (astra.suggest)."""

from astra.suggest import closest, did_you_mean


def test_case_slip_and_typo_find_the_name():
    assert closest("apstar", ["apVisit", "apStar", "spec"]) == "apStar"
    assert closest("EstimateSRN", ["EstimateSNR", "Greet"]) == "EstimateSNR"
    assert closest("MIN_good_pixel", ["min_good_pixels", "use_pixel_mask"]) == "min_good_pixels"


def test_nothing_close_gives_no_suggestion():
    assert closest("zzz", ["apStar", "apVisit"]) is None
    assert did_you_mean("zzz", ["apStar"]) == ""
    assert did_you_mean("apStar", ["apStar"]) == ""   # the name itself is no suggestion
    assert did_you_mean("apstar", ["apStar"]) == " (did you mean 'apStar'?)"


def test_data_models_and_task_parameters_suggest_through_it():
    import pytest

    from astra import datamodels
    from astra.contrib.rocket import EstimateSNR

    for typo in ("apStr", "APSTR", "mwmstr", "specLit"):
        with pytest.raises(datamodels.UnknownDataModelError) as error:
            datamodels.get(typo)
        assert f"did you mean {closest(typo, datamodels.DATA_MODELS)!r}?" in str(error.value)
    with pytest.raises(Exception, match=r"did you mean 'min_good_pixels'\?"):
        EstimateSNR(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="120-45",
                    prefix="ap", obj="2M00000000+0000000", MIN_good_pixel=2)
