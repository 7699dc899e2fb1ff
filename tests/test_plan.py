"""Building tasks: positional arguments, Luigi's sources of values, the instance cache, errors."""

import luigi
import pytest
from luigi.cmdline_parser import CmdlineParser
from luigi.parameter import DuplicateParameterException, MissingParameterException, UnknownParameterException

import astra
from astra.parameters import ParameterTypeError
from astra.tasks import BaseTask
from astra.tasks.io import ApStarFile, ApVisitFile, LocalTargetTask
from astra.tasks.plan import plan_for


class Greet(BaseTask):
    """README's task."""

    task_namespace = "plantest"
    obj = astra.Parameter(batch_method=tuple)
    greeting = astra.Parameter(default="Hello")


class Typed(BaseTask):
    task_namespace = "plantest"
    order = astra.IntParameter(default=3)
    scale = astra.FloatParameter(default=1.0)
    flag = astra.BoolParameter(default=False)
    label = astra.Parameter(default="x")
    quiet = astra.BoolParameter(default=False, significant=False)


class UpperParameter(astra.Parameter):
    """A user's parameter that changes values: construction must not skip its normalize()."""

    def normalize(self, x):
        return super().normalize(x).upper()


class Shouting(BaseTask):
    task_namespace = "plantest"
    word = UpperParameter()


# ---------------------------------------------------------------- positional arguments


def test_positional_arguments_follow_the_declared_order():
    assert LocalTargetTask("/path/model.txt").path == "/path/model.txt"  # seed 003
    task = Greet("2M00452143+1634446")  # README
    assert (task.obj, task.greeting) == ("2M00452143+1634446", "Hello")
    assert Greet("a", "Hi").greeting == "Hi"


def test_positional_and_keyword_arguments_are_the_same_task():
    assert Greet("2M0001") is Greet(obj="2M0001")
    assert Greet("2M0001").task_id == Greet(obj="2M0001", greeting="Hello").task_id


def test_hidden_version_parameters_are_never_positional():
    assert "astra_version_major" not in plan_for(Greet).positional
    with pytest.raises(UnknownParameterException, match=r"plantest.Greet: takes at most 2 positional argument\(s\) \(obj, greeting\), 3 given"):
        Greet("a", "b", 0)


def test_a_parameter_given_twice_is_an_error_naming_it():
    with pytest.raises(DuplicateParameterException, match="plantest.Greet: parameter 'obj' was given both"):
        Greet("a", obj="b")


# ---------------------------------------------------------------- errors name the task and the parameter


def test_wrong_types_name_the_task_and_the_parameter():
    with pytest.raises(ParameterTypeError, match="plantest.Typed: parameter 'order': expected an integer, got 'three'"):
        Typed(order="three")
    with pytest.raises(ParameterTypeError, match="plantest.Typed: parameter 'order': expected an integer"):
        Typed("three")  # positional: the same message
    with pytest.raises(ParameterTypeError, match="plantest.Typed: parameter 'flag'"):
        Typed(flag="maybe")


def test_missing_parameter_names_the_task_and_the_parameter():
    with pytest.raises(MissingParameterException, match="plantest.Greet: requires the 'obj' parameter to be set"):
        Greet()


def test_unknown_parameter_suggests_a_close_name():
    with pytest.raises(UnknownParameterException, match=r"plantest.Greet: unknown parameter 'greting' \(did you mean 'greeting'\?\)"):
        Greet(obj="a", greting="Hi")


def test_class_without_inherits_gets_the_hint():
    class EstimateSNRofApVisit(BaseTask):
        """Seed 002's class, written without @astra.inherits."""

        task_namespace = "plantest"
        fudge_factor = luigi.FloatParameter(default=1.0)

        def requires(self):
            return ApVisitFile(**self.get_common_param_kwargs(ApVisitFile))

    with pytest.raises(UnknownParameterException) as error:
        EstimateSNRofApVisit(release="dr16", apred="r12", telescope="apo25m", fiber=3)
    message = str(error.value)
    assert "plantest.EstimateSNRofApVisit: unknown parameter 'release'" in message
    # The class its requires() names comes first.
    assert "decorate the class with @astra.inherits(ApVisitFile)" in message

    @astra.inherits(ApVisitFile)
    class Fixed(EstimateSNRofApVisit):
        task_namespace = "plantest"

    assert Fixed(release="dr16", apred="r12", telescope="apo25m", field="120-45", plate=1, mjd=5, fiber=3).fiber == 3


# ---------------------------------------------------------------- values: normalised, from Luigi's sources


def test_values_of_the_right_type_and_values_normalised_are_one_task():
    a = Typed(order=4, scale=2, flag="true", label=5)
    b = Typed(order=4.0, scale=2.0, flag=True, label="5")
    assert a is b
    assert (type(a.order), type(a.scale), a.flag, a.label) == (int, float, True, "5")
    assert Typed(label="").label is None  # the empty string is None, also on the fast path


def test_a_parameter_that_normalises_its_own_way_is_always_normalised():
    assert Shouting(word="hello").word == "HELLO"
    assert Shouting("hello") is Shouting(word="HELLO")


def test_values_come_from_luigi_cfg(luigi_config):
    class Configured(BaseTask):
        task_namespace = "plantest"
        order = astra.IntParameter(default=3)
        label = astra.Parameter(default="x")

    assert Configured().order == 3
    luigi_config("[plantest.Configured]\norder = 7\n")  # after the class's plan was made
    task = Configured()
    assert (task.order, task.label) == (7, "x")
    assert Configured(order=8).order == 8  # a keyword wins over the configuration
    assert Configured() is Configured(order=7)


def test_a_required_parameter_can_come_from_luigi_cfg(luigi_config):
    class Needs(BaseTask):
        task_namespace = "plantest"
        path = astra.Parameter()

    luigi_config("[plantest.Needs]\npath = /data/model.pkl\n")
    assert Needs().path == "/data/model.pkl"


def test_values_come_from_the_command_line():
    class FromCommandLine(BaseTask):
        task_namespace = "plantest"
        order = astra.IntParameter(default=3)

    with CmdlineParser.global_instance(["plantest.FromCommandLine", "--order", "9"]) as parser:
        assert parser.get_task_obj().order == 9  # the task named on the command line
    with CmdlineParser.global_instance(["plantest.FromCommandLine", "--plantest.FromCommandLine-order", "8"]):
        assert FromCommandLine().order == 8  # any task of the class, as in Luigi
    assert FromCommandLine().order == 3


def test_unconsumed_configuration_is_still_warned_about(luigi_config):
    class Sparse(BaseTask):
        task_namespace = "plantest"
        order = astra.IntParameter(default=3)

    luigi_config("[plantest.Sparse]\nordre = 4\n")
    with pytest.warns(luigi.parameter.UnconsumedParameterWarning, match="ordre"):
        Sparse()


# ---------------------------------------------------------------- the instance cache and the plan


def test_same_parameters_give_the_same_object():
    assert Typed(order=5) is Typed(order=5)
    assert Typed(order=5) is not Typed(order=6)
    assert Typed(order=5, quiet=True) is not Typed(order=5)  # Luigi keys the cache on every value
    assert Typed(order=5, quiet=True).task_id == Typed(order=5).task_id


def test_instance_cache_can_be_disabled():
    luigi.task_register.Register.disable_instance_cache()
    try:
        a, b = Typed(order=11), Typed(order=11)
        assert a is not b and a == b and hash(a) == hash(b)
    finally:
        luigi.task_register.Register.clear_instance_cache()


def test_the_plan_notices_parameters_added_later():
    class Growing(BaseTask):
        task_namespace = "plantest"
        a = astra.IntParameter(default=1)

    class Donor(BaseTask):
        task_namespace = "plantest"
        b = astra.Parameter(default="new")

    assert [n for n, _ in Growing.get_params()][-1] == "a"
    Growing.b = Donor.b  # what @astra.inherits does
    assert Growing().b == "new"
    assert "b" in Growing().identity_params()
    del Growing.b
    with pytest.raises(UnknownParameterException):
        Growing(b="x")


def test_inherited_parameters_are_planned():
    @astra.inherits(ApStarFile)
    class Star(BaseTask):
        task_namespace = "plantest"
        order = astra.IntParameter(default=3)

    task = Star(release="DR16", apred="r12", apstar="stars", telescope="apo25m", field="218-04", obj="2M0001")
    assert (task.release, task.obj, task.order, task.healpix) == ("dr16", "2M0001", 3, None)


def test_a_class_with_its_own_init_runs_it():
    class WithInit(BaseTask):
        task_namespace = "plantest"
        order = astra.IntParameter(default=3)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.doubled = 2 * self.order

    task = WithInit(4)
    assert (task.order, task.doubled) == (4, 8)
    assert WithInit(order=4) is task


def test_plain_luigi_parameters_keep_luigi_behaviour():
    class Mixed(BaseTask):
        task_namespace = "plantest"
        fudge = luigi.FloatParameter(default=1.0)
        tags = luigi.Parameter(default="none")

    assert Mixed(tags=["a", "b"]).tags == ("a", "b")  # lists become tuples, as in Luigi
    assert Mixed(fudge=1).fudge == 1 and type(Mixed(fudge=1).fudge) is int  # not converted
    with pytest.warns(UserWarning, match='Parameter "tags" with value "5" is not of type string'):
        Mixed(tags=5)  # Luigi warns about the wrong type


def test_data_model_keys_are_checked_on_the_fast_path_too():
    @astra.inherits(ApStarFile)
    class Keyed(BaseTask):
        task_namespace = "plantest"

    keys = dict(release="dr16", apred="r12", apstar="stars", telescope="apo25m", field="218-04")
    with pytest.raises(ParameterTypeError, match=r"plantest.Keyed: parameter 'obj': unsafe value '\.\./\.\./etc'"):
        Keyed(obj="../../etc", **keys)
    with pytest.raises(ParameterTypeError, match="ApStarFile: parameter 'field': unsafe value"):
        ApStarFile(obj="2M0001", **dict(keys, field="a/b"))
