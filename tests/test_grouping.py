"""Grouping single-spectrum tasks into batches on their normalised values."""

import luigi
import pytest

import astra
from astra.tasks import BaseTask
from astra.tasks.grouping import batch_bounds, batch_tasks
from astra.tasks.io import ApStarFile


@astra.inherits(ApStarFile)
class Star(BaseTask):
    task_namespace = "grouptest"
    order = astra.IntParameter(default=3)
    scale = astra.FloatParameter(default=1.0)
    note = astra.Parameter(default="", significant=False)

    def output(self):
        return self.local_target("out.txt")

    def process(self, task, context):
        with task.output().open("w") as fp:
            fp.write(task.obj)


KEYS = dict(apred="r12", apstar="stars", telescope="apo25m", field="218-04")


def stars(n, **kwargs):
    return [Star(release="dr16", obj=f"2M{i:08d}", **dict(KEYS, **kwargs)) for i in range(n)]


def test_members_keep_the_identity_they_had_as_single_tasks():
    singles = stars(25)
    batches = batch_tasks(singles, max_batch_size=10)
    assert [b.get_batch_size() for b in batches] == [10, 10, 5]
    members = [m for b in batches for m in b.get_batch_tasks()]
    assert [m.task_id for m in members] == [t.task_id for t in singles]
    assert [m.output().path for m in members] == [t.output().path for t in singles]
    # A batch built from single tasks is the batch built from tuples.
    direct = Star(release="dr16", obj=tuple(t.obj for t in singles[:10]), **KEYS)
    assert batches[0] is direct


def test_several_workers_get_a_multiple_of_their_number_of_equal_batches():
    sizes = lambda n, size, workers: [stop - start for start, stop in batch_bounds(n, size, workers)]
    assert sizes(25, 10, 1) == [10, 10, 5]  # one worker: as before
    assert sizes(400, 1000, 2) == [200, 200]
    assert sizes(2500, 1000, 2) == [625] * 4  # not 1000, 1000 and 500 left to one worker
    assert sizes(400, 50, 2) == [50] * 8
    assert sizes(7, 1000, 3) == [3, 2, 2]
    assert sizes(3, 1000, 4) == [1, 1, 1]  # never an empty batch
    assert sizes(0, 1000, 2) == [] and sizes(0, 1000, 1) == []
    assert batch_bounds(5, 1000, 2) == [(0, 3), (3, 5)]
    members = [m.obj for b in batch_tasks(stars(25), max_batch_size=10, workers=2) for m in b.get_batch_tasks()]
    assert members == [t.obj for t in stars(25)]  # order kept across the four batches
    assert [b.get_batch_size() for b in batch_tasks(stars(25), max_batch_size=10, workers=2)] == [7, 6, 6, 6]


def test_significant_values_split_batches_and_insignificant_do_not():
    tasks = stars(3) + stars(3, order=4) + stars(3, note="quiet") + stars(2, scale=1)  # 1 is 1.0
    batches = batch_tasks(tasks)
    assert sorted(b.get_batch_size() for b in batches) == [3, 3]
    release = [Star(release=r, obj=f"2M000{i}", **KEYS) for i, r in enumerate(("dr16", "DR16", "dr17"))]
    assert sorted(b.get_batch_size() for b in batch_tasks(release)) == [1, 2]


def test_duplicates_are_dropped_and_order_kept():
    singles = stars(5)
    batches = batch_tasks(singles[::-1] + singles)
    assert [m.obj for m in batches[0].get_batch_tasks()] == [t.obj for t in singles[::-1]]


def test_values_with_different_text_forms_are_not_merged():
    class Plain(BaseTask):
        task_namespace = "grouptest"
        obj = astra.Parameter(batch_method=tuple)
        fudge = luigi.FloatParameter(default=1.0)  # plain Luigi: 1 and 1.0 are different tasks
        offset = astra.FloatParameter(default=0.0)

    tasks = [Plain(obj="a", fudge=1), Plain(obj="b", fudge=1.0), Plain(obj="c", offset=-0.0), Plain(obj="d", offset=0.0)]
    assert len({t.identity_hash for t in tasks}) == 4
    batches = batch_tasks(tasks)
    members = {m.obj: m.task_id for b in batches for m in b.get_batch_tasks()}
    assert members == {t.obj: t.task_id for t in tasks}


def test_unhashable_values_are_grouped_by_their_text():
    class Loose(BaseTask):
        task_namespace = "grouptest"
        obj = astra.Parameter(batch_method=tuple)
        options = luigi.Parameter(default="none")

    tasks = [Loose(obj=o, options={"a": 1}) for o in "xyz"]
    batches = batch_tasks(tasks)
    assert [b.get_batch_size() for b in batches] == [3]


def test_a_script_of_single_tasks_runs_as_batches():
    singles = stars(2500)
    summary = astra.build(singles, max_batch_size=1000)
    assert (summary.tasks, summary.done, summary.failed) == (3, 2500, [])
    assert all(t.complete() for t in singles[::97])
    again = astra.build(stars(2500), max_batch_size=1000)
    assert (again.done, again.skipped) == (2500, 2500)


def test_bad_batch_size_is_an_error():
    with pytest.raises(ValueError, match="max_batch_size must be at least 1"):
        batch_tasks(stars(2), max_batch_size=0)
