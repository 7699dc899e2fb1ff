"""Parameters normalise values so equal values are the same task."""

import pytest

import astra
from astra.parameters import ParameterTypeError


def test_float_parameter_normalises_int():
    p = astra.FloatParameter()
    assert p.normalize(1) == 1.0 and isinstance(p.normalize(1), float)
    assert p.serialize(p.normalize(1)) == p.serialize(p.normalize(1.0))


def test_int_parameter_rejects_garbage():
    p = astra.IntParameter()
    assert p.normalize("3") == 3
    with pytest.raises(ParameterTypeError, match="expected an integer"):
        p.normalize("three")
    with pytest.raises(ParameterTypeError):
        p.normalize(2.5)


def test_bool_parameter():
    p = astra.BoolParameter()
    assert p.normalize("TRUE") is True and p.normalize(0) is False
    with pytest.raises(ParameterTypeError):
        p.normalize("maybe")


def test_dict_serialisation_is_order_independent():
    p = astra.DictParameter()
    a = p.serialize(p.normalize({"b": 1, "a": {"y": 2, "x": 1}}))
    b = p.serialize(p.normalize({"a": {"x": 1, "y": 2}, "b": 1}))
    assert a == b


def test_batch_parameter_round_trip():
    p = astra.IntParameter(batch_method=tuple)
    value = p.normalize([1, "2", 3.0])
    assert value == (1, 2, 3)
    assert p.parse(p.serialize(value)) == value
    assert p.normalize((5,)) == 5  # a one-member batch is its scalar


def test_non_batch_parameter_does_not_split_lists():
    p = astra.ListParameter()
    assert p.normalize([1, 2]) == (1, 2)


def test_none_and_empty_string_survive_the_text_round_trip():
    p = astra.Parameter(default=None, batch_method=tuple)
    assert p.normalize("") is None
    assert p.parse(p.serialize(None)) is None
    assert p.parse(p.serialize(("a", None))) == ("a", None)


def test_bad_command_line_value_names_the_parameter(tmp_path):
    import os
    import subprocess
    import sys

    tests = os.path.dirname(__file__)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "batch_tasks", "batchtests.CountingBatch",
         "--obj", "lots", "--record-path", str(tmp_path / "log"), "--local-scheduler"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "batchtests.CountingBatch: parameter 'obj': expected an integer, got 'lots'" in out.stderr


def test_bad_config_value_names_the_parameter(luigi_config):
    from astra.tasks import BaseTask

    class Configured(BaseTask):
        task_namespace = "paramtest"
        order = astra.IntParameter()

    luigi_config("[paramtest.Configured]\norder = many\n")
    with pytest.raises(ParameterTypeError, match="paramtest.Configured: parameter 'order'"):
        Configured()


def test_a_tuple_of_one_value_for_a_non_batch_parameter_is_that_value():
    p = astra.Parameter()
    assert p.normalize(("dr16", "dr16")) == "dr16"
    assert astra.IntParameter().normalize([3, 3.0, "3"]) == 3  # equal once normalised


def test_different_values_for_a_non_batch_parameter_say_it_is_not_a_batch_key():
    with pytest.raises(ParameterTypeError, match=r"not a batch key: .* 2 different values were given \('dr16', 'dr17'\); make one task per value"):
        astra.Parameter().normalize(("dr16", "dr17"))


def test_seed_003_batch_keywords_with_a_repeated_release():
    from astra.tasks import BaseTask
    from astra.tasks.io import ApStarFile

    @astra.inherits(ApStarFile)
    class Stellar(BaseTask):
        task_namespace = "paramtest"

    multiple_kwds = dict(
        release=("dr16", "dr16"), apred=("r12", "r12"), telescope=("apo25m", "apo25m"),
        field=("218-04", "000+14"), prefix=("ap", "ap"), obj=("2M06440890-0610126", "2M16505794-2118004"),
        apstar=("stars", "stars"),
    )
    task = Stellar(**multiple_kwds)
    assert task.release == "dr16" and task.get_batch_size() == 2
    assert [m.field for m in task.get_batch_tasks()] == ["218-04", "000+14"]
    with pytest.raises(ParameterTypeError, match="paramtest.Stellar: parameter 'release': not a batch key"):
        Stellar(**dict(multiple_kwds, release=("dr16", "dr17")))
    with pytest.raises(ParameterTypeError, match="ApStarFile: parameter 'release': not a batch key"):
        ApStarFile(**dict(multiple_kwds, release=("dr16", "dr17")))


def test_lists_and_dicts_are_values_not_batches():
    assert astra.ListParameter().normalize(["a", "b"]) == ("a", "b")
    assert astra.DictParameter().normalize({"a": (1, 2)})["a"] == (1, 2)


def test_plain_types_only_for_parameters_that_keep_such_values():
    from astra.parameters import plain_type, serialises_text_as_itself
    from astra.tasks.io.base import IntKeyParameter, KeyParameter, ReleaseParameter

    assert plain_type(astra.Parameter()) is str and serialises_text_as_itself(astra.Parameter())
    assert plain_type(KeyParameter()) is str and plain_type(IntKeyParameter()) is int
    assert plain_type(astra.FloatParameter()) is float and plain_type(astra.BoolParameter()) is bool
    assert plain_type(ReleaseParameter()) is None  # "DR16" becomes "dr16"
    assert plain_type(astra.DictParameter()) is None and plain_type(astra.ListParameter()) is None

    class Lower(astra.Parameter):
        def _normalize_one(self, x):
            return str(x).lower()

    assert plain_type(Lower()) is None  # changed values without saying which stay: normalised


def test_malformed_json_list_on_luigi_command_line_is_an_error_naming_the_parameter(tmp_path):
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "astra.contrib.rocket", "EstimateSNR", "--release", "dr13",
         "--apred", "r6", "--apstar", "stars", "--telescope", "apo25m", "--field", "[120-45, 009+09]",
         "--obj", '["2M00452143+1634446", "2M17334253-1654573"]', "--local-scheduler"],
        capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, SAS_BASE_DIR=str(tmp_path)),
    )
    assert out.returncode != 0
    assert "parameter 'field': '[120-45, 009+09]' is not a valid JSON list" in out.stderr
    assert "file not found" not in out.stderr.lower()


def test_text_starting_with_a_bracket_must_be_a_json_list():
    from astra.parameters import parse_json_list

    p = astra.Parameter(batch_method=tuple)
    assert p.parse('["120-45", "009+09"]') == ("120-45", "009+09")
    with pytest.raises(ParameterTypeError, match="not a valid JSON list"):
        p.parse("[120-45, 009+09]")
    with pytest.raises(ParameterTypeError, match="is not a JSON list"):
        parse_json_list('{"a": 1}')
    assert astra.Parameter().parse("[literal") == "[literal"   # not a batch parameter: plain text
