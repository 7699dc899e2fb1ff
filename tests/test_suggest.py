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
