"""BaseTask: common parameters, identity-derived outputs, batch mode."""

import json
import os

import luigi
import pytest

import astra
from astra.parameters import ParameterTypeError
from astra.tasks import BaseTask, BatchSizeError


class Upstream(BaseTask):
    task_namespace = "basetest"
    field = astra.Parameter(batch_method=tuple)
    obj = astra.Parameter(batch_method=tuple)

    def output(self):
        return self.local_target("upstream.txt")

    def process(self, task, context):
        with task.output().open("w") as fp:
            fp.write(f"{task.field} {task.obj}\n")


class Downstream(BaseTask):
    task_namespace = "basetest"
    field = astra.Parameter(batch_method=tuple)
    obj = astra.Parameter(batch_method=tuple)
    scale = astra.FloatParameter(default=2.0)

    def requires(self):
        return Upstream(**self.get_common_param_kwargs(Upstream))

    def output(self):
        return self.local_target("result.json")

    def setup(self):
        self.setup_calls = getattr(self, "setup_calls", 0) + 1
        return self.scale

    def process(self, task, scale):
        with open(task.input().path) as fp:
            text = fp.read().strip()
        with task.output().open("w") as fp:
            json.dump({"upstream": text, "scale": scale}, fp)


def test_common_param_names_and_kwargs():
    task = Downstream(field="A", obj="1", scale=3)
    assert task.get_common_param_names(Upstream) == ["astra_version_major", "astra_version_minor", "field", "obj"]
    kwargs = task.get_common_param_kwargs(Upstream)
    assert kwargs["field"] == "A" and kwargs["obj"] == "1" and "scale" not in kwargs
    assert task.requires() == Upstream(field="A", obj="1")


def test_common_param_kwargs_carry_tuples():
    task = Downstream(field=("A", "B"), obj=("1", "2"))
    upstream = task.requires()
    assert upstream.is_batch_mode and upstream.get_batch_size() == 2
    assert [m.obj for m in upstream.get_batch_tasks()] == ["1", "2"]


def test_output_path_follows_identity(tmp_path):
    task = Downstream(field="A", obj="1")
    path = task.output().path
    h = task.identity_hash
    assert path == os.path.join(str(tmp_path / "output"), "basetest", "Downstream", h[:2], h[2:4], f"{h}-result.json")
    assert Downstream(field="A", obj="1", scale=5).output().path != path


def test_batch_broadcast_and_members():
    task = Downstream(field="A", obj=("1", "2", "3"))
    members = list(task.get_batch_tasks())
    assert [m.field for m in members] == ["A", "A", "A"]
    assert [m.task_id for m in members] == [Downstream(field="A", obj=o).task_id for o in "123"]
    assert len(task.output()) == 3


def test_batch_lengths_must_agree():
    with pytest.raises(BatchSizeError, match="field has 2, obj has 3"):
        Downstream(field=("A", "B"), obj=("1", "2", "3"))


def test_wrong_type_names_the_parameter():
    with pytest.raises(ParameterTypeError, match="parameter 'scale'"):
        Downstream(field="A", obj="1", scale="big")


def test_batch_round_trips_through_str_params():
    task = Downstream(field=("A", "B"), obj=("1", "2"), scale=1.5)
    again = Downstream.from_str_params(task.to_str_params())
    assert again.task_id == task.task_id and again.obj == ("1", "2")


def test_batch_runs_once_per_batch_and_only_incomplete_members():
    task = Downstream(field="A", obj=tuple(str(i) for i in range(6)))
    first_three = Downstream(field="A", obj=("0", "1", "2"))
    assert luigi.build([first_three], local_scheduler=True, log_level="WARNING")
    done_before = {m.output().path: os.path.getmtime(m.output().path) for m in first_three.get_batch_tasks()}

    processed = []
    original = Downstream.process

    def counting(self, member, context):
        processed.append(member.obj)
        return original(self, member, context)

    Downstream.process = counting
    try:
        assert luigi.build([task], local_scheduler=True, log_level="WARNING")
    finally:
        Downstream.process = original
    assert processed == ["3", "4", "5"]
    assert all(os.path.getmtime(p) == t for p, t in done_before.items())
    assert task.complete()


def test_one_member_raising_does_not_lose_the_others():
    class Fragile(BaseTask):
        task_namespace = "basetest"
        obj = astra.IntParameter(batch_method=tuple)

        def output(self):
            return self.local_target("out.txt")

        def process(self, task, context):
            if task.obj == 37:
                raise ValueError("bad spectrum")
            with task.output().open("w") as fp:
                fp.write("ok")

    batch = Fragile(obj=tuple(range(100)))
    luigi.build([batch], local_scheduler=True, log_level="CRITICAL")
    members = list(batch.get_batch_tasks())
    assert sum(m.complete() for m in members) == 99
    failed = batch.failed_batch_tasks()
    assert [m.obj for m in failed] == [37]
    record = json.load(open(failed[0].failure_path()))
    assert "bad spectrum" in record["error"] and record["task_id"] == failed[0].task_id
