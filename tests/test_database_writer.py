"""Result writes that fail part-way (a full disk): lost rows count as failed, with the reason.

The disk-full tests mount a small tmpfs of their own (they need root, and a kernel that lets
this process mount one); otherwise they skip and say why.
"""

import os
import sqlite3
import subprocess

import peewee
import pytest

import astra
import astra.config
from astra.database import ResultWriter
from astra.database.examples import EstimateSNRResult as Result
from astra.database.writer import ResultWriteError
from batch_tasks import DatabaseRowBatch


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 320 KiB tmpfs mounted for the test and unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("disk-full tests mount a small tmpfs, which needs root")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mount
    finally:
        import astra.database

        astra.database.reset()
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _rows_in(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT task_id FROM estimatesnrresult")}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_disk_during_writes_counts_the_lost_rows_as_failed(small_tmpfs, monkeypatch, workers):
    path = small_tmpfs / "results.db"
    monkeypatch.setenv("ASTRA_DATABASE_URL", f"sqlite:///{path}")
    astra.config.reload()
    objs = [f"2M{i:08d}+{i:07d}" for i in range(3000)]
    tasks = [DatabaseRowBatch(obj=o) for o in objs]
    summary = astra.build(tasks, max_batch_size=500, workers=workers)
    written = _rows_in(path)
    assert 0 < len(written) < len(objs), "the disk filled part-way through"
    assert summary.done == len(written), str(summary)
    assert summary.n_failed == len(objs) - len(written), str(summary)
    assert summary.not_run == 0 and not summary.success
    reasons = [reason for _, reason in summary.failed]
    assert all("full" in r for r in reasons), reasons[:3]
    assert any("result not written" in r for r in reasons), reasons[:3]
    assert not any("cannot rollback" in r for r in reasons)
    failed_ids = {task_id for task_id, _ in summary.failed}
    assert not failed_ids & written


def test_writer_drops_and_reports_the_rows_of_a_failed_write(small_tmpfs, monkeypatch):
    monkeypatch.setenv("ASTRA_DATABASE_URL", f"sqlite:///{small_tmpfs / 'results.db'}")
    astra.config.reload()
    writer = ResultWriter(Result, batch_size=100, flush_interval=3600)
    lost = []
    for i in range(3000):
        task = DatabaseRowBatch(obj=f"2M{i:08d}")
        try:
            writer.add(Result.row_for_task(task, {"snr": 1.0}))
        except ResultWriteError as error:
            assert isinstance(error.error, (peewee.OperationalError, sqlite3.OperationalError))
            assert "full" in str(error.error) and "cannot rollback" not in str(error)
            lost.extend(error.lost)
    try:
        writer.close()
    except ResultWriteError as error:
        lost.extend(error.lost)
    assert lost and len(writer) == 0, "a failed write's rows leave the buffer"
    written = _rows_in(small_tmpfs / "results.db")
    assert len(written) == writer.written
    assert len(written) + len(lost) == 3000
