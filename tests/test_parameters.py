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
