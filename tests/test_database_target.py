"""Writing results: upserts, versions, failed members, bulk completeness, concurrency, Luigi."""

import multiprocessing
import os

import luigi
import pytest

import astra
import astra.config
from astra.database import (
    DatabaseOutputMixin,
    DatabaseTarget,
    ResultWriter,
    completed_task_ids,
    connect,
    get_database,
    upsert_rows,
)
from astra.contrib.rocket.results import EstimateSNRResult as Result
from astra.database.target import _chunk_size
from luigi.parameter import ParameterVisibility
from astra.tasks import BaseTask
from astra.tasks.batch_run import BatchMemberError

MAJOR, MINOR = astra.version_info()


class SNRTask(DatabaseOutputMixin, BaseTask):
    """Writes len(obj) as the S/N; fails for objects named in $ASTRA_TEST_FAIL_OBJ."""

    result_model = Result
    obj = astra.Parameter(batch_method=tuple)
    release = astra.Parameter(default="dr17")

    def setup(self):
        return 10

    def process(self, task, context):
        if task.obj in os.environ.get("ASTRA_TEST_FAIL_OBJ", "").split(","):
            raise ValueError(f"no pixels in {task.obj}")
        self.write_result(task, snr=float(len(task.obj)))
        self.write_result(task, n_pixels=context, flag_low_snr=len(task.obj) < 3)


class SNRNextVersion(SNRTask):
    """The same task as a later Astra minor version would define it."""

    astra_version_minor = astra.IntParameter(default=MINOR + 1, visibility=ParameterVisibility.HIDDEN)

    @classmethod
    def get_task_family(cls):
        return SNRTask.get_task_family()


class ReturnsValues(DatabaseOutputMixin, BaseTask):
    result_model = Result
    obj = astra.Parameter(batch_method=tuple)

    def process(self, task, context):
        return {"snr": 1.0, "snr_visits": [1.0, 2.0, float("nan")]}



def _rows():
    return list(Result.select().order_by(Result.task_id).dicts())


def test_upsert_same_identity_twice_gives_one_updated_row(db_url):
    task = SNRTask(obj="2M0001")
    upsert_rows(Result, [Result.row_for_task(task, {"snr": 1.0})])
    first = _rows()
    upsert_rows(Result, [Result.row_for_task(task, {"snr": 2.0})])
    rows = _rows()
    assert len(rows) == 1
    assert rows[0]["snr"] == 2.0
    assert rows[0]["created"] == first[0]["created"], "created is kept"
    assert rows[0]["modified"] >= first[0]["modified"]
    assert rows[0]["id"] == first[0]["id"]


def test_duplicates_within_one_write_keep_the_last(db_url):
    task = SNRTask(obj="a")
    upsert_rows(Result, [Result.row_for_task(task, {"snr": v}) for v in (1.0, 2.0, 3.0)])
    assert [r["snr"] for r in _rows()] == [3.0]


def test_new_astra_version_gives_new_row(db_url):
    now, later = SNRTask(obj="2M0001"), SNRNextVersion(obj="2M0001")
    assert now.get_task_family() == later.get_task_family()
    assert now.task_id != later.task_id
    upsert_rows(Result, [Result.row_for_task(now, {"snr": 1.0}), Result.row_for_task(later, {"snr": 5.0})])
    rows = _rows()
    assert len(rows) == 2
    assert {(r["astra_version_minor"], r["snr"]) for r in rows} == {(MINOR, 1.0), (MINOR + 1, 5.0)}
    assert DatabaseTarget(Result, now).exists() and DatabaseTarget(Result, later).exists()


def test_batch_run_writes_values_timing_and_failed_rows(db_url, monkeypatch):
    monkeypatch.setenv("ASTRA_TEST_FAIL_OBJ", "bad")
    batch = SNRTask(obj=("a", "bbbb", "bad"))
    assert not batch.complete()
    with pytest.raises(BatchMemberError, match="1 of 3 spectra failed"):  # Luigi sees the failure
        batch.run()
    assert batch.batch_outcome.done == 2 and batch.batch_outcome.failed == 1
    rows = {r["obj"]: r for r in _rows()}
    assert set(rows) == {"a", "bbbb", "bad"}
    assert rows["a"]["snr"] == 1.0 and rows["a"]["n_pixels"] == 10 and rows["a"]["flags"] == 2
    assert rows["bbbb"]["flags"] == 0
    assert rows["bad"]["flags"] == 1 and rows["bad"]["snr"] is None
    assert rows["bad"]["error"] == "ValueError: no pixels in bad"
    for row in rows.values():
        assert row["t_overhead"] is not None and row["t_overhead"] >= 0
        assert row["t_elapsed"] is not None and row["t_elapsed"] >= 0
    # The batch's one setup is shared among its three spectra: every row has the same share.
    assert len({row["t_overhead"] for row in rows.values()}) == 1
    assert batch.batch_timing["setup"] == pytest.approx(3 * rows["a"]["t_overhead"])
    assert [m.complete() for m in batch.get_batch_tasks()] == [True, True, False]
    assert not batch.complete(), "a failed member is retried on the next run"
    monkeypatch.delenv("ASTRA_TEST_FAIL_OBJ")
    batch = SNRTask(obj=("a", "bbbb", "bad"))
    batch.run()
    rows = {r["obj"]: r for r in _rows()}
    assert len(rows) == 3 and rows["bad"]["flags"] == 0 and rows["bad"]["snr"] == 3.0
    assert rows["bad"]["error"] is None
    assert batch.complete()


def test_failed_rows_can_count_as_complete(db_url, monkeypatch):
    monkeypatch.setenv("ASTRA_TEST_FAIL_OBJ", "bad")
    with pytest.raises(BatchMemberError):
        SNRTask(obj=("ok", "bad")).run()
    ids = [SNRTask(obj=o).task_id for o in ("ok", "bad")]
    assert completed_task_ids(Result, ids) == {ids[0]}
    assert completed_task_ids(Result, ids, failed_is_complete=True) == set(ids)
    assert DatabaseTarget(Result, ids[1], failed_is_complete=True).exists()


def test_process_may_return_values(db_url):
    ReturnsValues(obj=("x", "y")).run()
    rows = _rows()
    assert [r["snr"] for r in rows] == [1.0, 1.0]
    assert rows[0]["snr_visits"] == [1.0, 2.0, None]
    assert DatabaseTarget(Result, ReturnsValues(obj="x")).read().snr == 1.0


def test_bulk_completeness_in_chunks(db_url, monkeypatch):
    db = get_database()
    assert _chunk_size(db) >= 998, "SQLite's variable limit (or PostgreSQL's chunk) is used"
    monkeypatch.setattr("astra.database.target._chunk_size", lambda db: 100)
    tasks = [SNRTask(obj=f"2M{i:06d}") for i in range(1050)]
    upsert_rows(Result, [Result.row_for_task(t, {"snr": 1.0}) for t in tasks[::2]])
    ids = [t.task_id for t in tasks] + ["not-there"]
    queries = []
    db.query_hooks.append(queries.append)
    done = completed_task_ids(Result, ids)
    assert done == {t.task_id for t in tasks[::2]}
    assert len([q for q in queries if q.sql.startswith("SELECT")]) == 11, "one query per chunk of 100"


def test_batch_complete_is_one_query(db_url):
    batch = SNRTask(obj=tuple(f"o{i}" for i in range(500)))
    batch.run()
    db = get_database()
    queries = []
    db.query_hooks.append(queries.append)
    assert batch.complete()
    assert len([q for q in queries if "SELECT" in q.sql]) == 1


def test_a_batch_run_asks_the_database_at_scheduling_and_under_its_claim(db_url, monkeypatch):
    import astra.database.target as target

    asked = []
    real = target.completed_task_ids

    def counting(model, ids, *args, **kwargs):
        asked.append(len(ids))
        return real(model, ids, *args, **kwargs)

    monkeypatch.setattr(target, "completed_task_ids", counting)
    summary = astra.build([SNRTask(obj=tuple(f"q{i}" for i in range(40)))], max_batch_size=20, log_level="ERROR")
    assert summary.done == 40
    # One bulk query per batch at scheduling (complete()), one under its claim (run()): never an
    # answer kept from before the claim, which goes stale when another run works on the batch.
    assert asked == [20, 20, 20, 20]
    assert Result.select().count() == 40


def test_writer_flushes_by_size_interval_and_close(db_url):
    tasks = [SNRTask(obj=f"w{i}") for i in range(7)]
    writer = ResultWriter(Result, batch_size=3, flush_interval=3600)
    for task in tasks[:5]:
        writer.add(Result.row_for_task(task, {"snr": 1.0}))
    assert Result.select().count() == 3 and len(writer) == 2
    writer.flush_interval = 0
    writer.add(Result.row_for_task(tasks[5], {"snr": 1.0}))
    assert Result.select().count() == 6 and len(writer) == 0
    writer.flush_interval = 3600
    with writer:
        writer.add(Result.row_for_task(tasks[6], {"snr": 1.0}))
        assert Result.select().count() == 6
    assert Result.select().count() == 7 and writer.written == 7


def _write_many(url, worker, n, overlap):
    """Child process: write n rows (some shared with the other worker) in small batches."""
    os.environ["ASTRA_DATABASE_URL"] = url
    astra.config.reload()
    names = [f"w{worker}-{i}" for i in range(n)] + [f"shared-{i}" for i in range(overlap)]
    with ResultWriter(Result, batch_size=7, flush_interval=3600) as writer:
        for name in names:
            writer.add(Result.row_for_task(SNRTask(obj=name), {"snr": float(worker)}))


def test_two_worker_processes_write_at_once(db_url):
    get_database()  # the parent holds a connection across the fork, as Luigi's does
    from astra.database.migrations import ensure_table

    ensure_table(Result)
    context = multiprocessing.get_context("fork")
    n, overlap = 400, 100
    workers = [context.Process(target=_write_many, args=(db_url, w, n, overlap)) for w in (1, 2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0], "a worker failed (e.g. 'database is locked')"
    assert Result.select().count() == 2 * n + overlap
    assert Result.select().where(Result.obj.startswith("shared-")).count() == overlap


def test_luigi_run_writes_and_rerun_updates(db_url, monkeypatch):
    monkeypatch.setenv("ASTRA_TEST_FAIL_OBJ", "cc")
    tasks = [SNRTask(obj=("a", "bb")), SNRTask(obj=("cc", "dddd"))]
    # A batch with a failed spectrum is a failed task for Luigi (fail_batch_on_member_error).
    assert not luigi.build(tasks, local_scheduler=True, workers=2, log_level="WARNING")
    rows = {r["obj"]: r for r in _rows()}
    assert set(rows) == {"a", "bb", "cc", "dddd"}
    assert rows["cc"]["flags"] & 1 and rows["dddd"]["snr"] == 4.0
    assert not tasks[1].complete() and tasks[0].complete()
    monkeypatch.delenv("ASTRA_TEST_FAIL_OBJ")
    tasks = [SNRTask(obj=("a", "bb")), SNRTask(obj=("cc", "dddd"))]
    assert luigi.build(tasks, local_scheduler=True, workers=2, log_level="WARNING")
    again = {r["obj"]: r for r in _rows()}
    assert len(again) == 4 and Result.select().count() == 4
    assert again["cc"]["flags"] == 2 and again["cc"]["snr"] == 2.0, "failed bit cleared, low-S/N bit set"
    assert again["cc"]["id"] == rows["cc"]["id"] and again["cc"]["created"] == rows["cc"]["created"]
    assert again["a"]["modified"] == rows["a"]["modified"], "complete members are not re-run"
    assert all(t.complete() for t in tasks)


def test_explicit_connect_is_used_by_targets(tmp_path):
    connect(f"sqlite:///{tmp_path / 'explicit.db'}")
    SNRTask(obj=("p", "q")).run()
    assert get_database().database == str(tmp_path / "explicit.db")
    assert Result.select().count() == 2
