"""``astra init``: creating tables (idempotent) and adding new columns without losing data."""

import multiprocessing

import peewee
import pytest

from astra.cli import main
from astra.database import BaseResult, completed_task_ids, connect, create_tables, get_database, upsert_rows
from astra.fields import BitField, FloatField, TextField, flag
from astra.models.pipeline import PipelineOutputMixin
from astra.contrib.rocket.results import EstimateSNRResult
from astra.database.migrations import MigrationError, ensure_table

from fake_tasks import FakeTask


def _task(name):
    return FakeTask(f"test.Fake_{name}", obj=name)


class EvolvingV1(BaseResult):
    #> Values
    a = FloatField(null=True, help_text="First value")

    class Meta:
        table_name = "evolving"


class EvolvingV2(BaseResult):
    #> Values
    a = FloatField(null=True, help_text="First value")
    b = FloatField(null=True, help_text="Second value, added later")
    c = TextField(null=True, help_text="Third value, added later")

    class Meta:
        table_name = "evolving"



def test_create_tables_is_idempotent(db_url):
    reports = create_tables([EstimateSNRResult])
    assert [str(r) for r in reports] == ["estimatesnrresult: created"]
    upsert_rows(EstimateSNRResult, [EstimateSNRResult.row_for_task(_task("x"), {"snr": 2.0})])
    reports = create_tables([EstimateSNRResult])
    assert [str(r) for r in reports] == ["estimatesnrresult: up to date"]
    assert EstimateSNRResult.select().count() == 1


def test_new_nullable_columns_are_added_and_data_kept(db_url):
    create_tables([EvolvingV1])
    upsert_rows(EvolvingV1, [EvolvingV1.row_for_task(_task("old"), {"a": 1.5})])
    report = ensure_table(EvolvingV2, force=True)
    assert report.added == ["b", "c"] and not report.created
    assert "added columns b, c" in str(report)
    row = EvolvingV2.get(EvolvingV2.task_id == "test.Fake_old")
    assert (row.a, row.b, row.c) == (1.5, None, None)
    upsert_rows(EvolvingV2, [EvolvingV2.row_for_task(_task("new"), {"a": 2.0, "b": 3.0, "c": "x"})])
    assert EvolvingV2.select().count() == 2


class EvolvingV3(BaseResult):
    #> Values
    a = FloatField(null=True, index=True, help_text="First value, indexed later")
    b = FloatField(null=True, help_text="Second value")
    c = TextField(null=True, unique=True, help_text="Third value, unique later")

    class Meta:
        table_name = "evolving"
        indexes = ((("a", "b"), False),)


def _index_names(model):
    return {index.name for index in get_database().get_indexes(model._meta.table_name)}


def test_indexes_declared_later_are_added_to_an_existing_table(db_url):
    create_tables([EvolvingV2])
    upsert_rows(EvolvingV2, [EvolvingV2.row_for_task(_task(n), {"a": 1.0, "b": 2.0, "c": n}) for n in "xy"])
    before = _index_names(EvolvingV2)
    report = ensure_table(EvolvingV3, force=True)
    # Only the three new ones: the task_id/task_family indexes are there under the V2 names.
    assert sorted(report.indexes) == ["evolvingv3_a", "evolvingv3_a_b", "evolvingv3_c"] and not report.added
    assert "added indexes" in str(report)
    assert _index_names(EvolvingV3) == before | {"evolvingv3_a", "evolvingv3_a_b", "evolvingv3_c"}
    assert EvolvingV3.select().count() == 2
    assert str(ensure_table(EvolvingV3, force=True)) == "evolving: up to date"


def test_a_unique_index_existing_rows_break_is_refused_by_name(db_url):
    create_tables([EvolvingV2])
    upsert_rows(EvolvingV2, [EvolvingV2.row_for_task(_task(n), {"c": "same"}) for n in "xy"])
    with pytest.raises(MigrationError, match="cannot add unique index evolvingv3_c: existing rows repeat"):
        ensure_table(EvolvingV3, force=True)
    assert EvolvingV2.select().count() == 2


def test_columns_removed_from_a_model_are_kept(db_url):
    create_tables([EvolvingV2])
    upsert_rows(EvolvingV2, [EvolvingV2.row_for_task(_task("x"), {"a": 1.0, "b": 2.0})])
    report = ensure_table(EvolvingV1, force=True)
    assert report.extra == ["b", "c"] and "kept columns no longer in EvolvingV1: b, c" in str(report)
    upsert_rows(EvolvingV1, [EvolvingV1.row_for_task(_task("x"), {"a": 5.0})])
    assert EvolvingV2.get().b == 2.0, "data in a column the model dropped survives"


def test_not_null_column_without_default_cannot_be_added(db_url):
    create_tables([EvolvingV1])
    field = peewee.FloatField(help_text="Required")
    field.bind(EvolvingV1, "required")
    EvolvingV1._meta.add_field("required", field)
    try:
        with pytest.raises(MigrationError, match="NOT NULL without a default"):
            ensure_table(EvolvingV1, force=True)
    finally:
        EvolvingV1._meta.remove_field("required")


def test_astra_init_command(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'init.db'}"
    assert main(["init", "--database", url]) == 0
    out = capsys.readouterr().out
    assert "estimatesnrresult: created" in out and "sqlite:///" in out
    assert main(["init", "--database", url, "estimatesnr"]) == 0
    assert "estimatesnrresult: up to date" in capsys.readouterr().out
    connect(url)
    assert get_database().table_exists("estimatesnrresult")


def test_astra_init_bad_url_is_one_line(capsys):
    assert main(["init", "--database", "postgresql://astra:pw@127.0.0.1:1/astra"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "postgresql://astra:***@127.0.0.1:1/astra" in err and ":pw@" not in err
    assert main(["init", "--database", "oracle://x/y"]) == 2
    assert "unknown database URL scheme 'oracle'" in capsys.readouterr().err


def test_astra_init_unknown_module(tmp_path, capsys):
    assert main(["init", "--database", f"sqlite:///{tmp_path / 'x.db'}", "--module", "no_such_module_xyz"]) == 2
    assert "cannot import results model module 'no_such_module_xyz'" in capsys.readouterr().err


# ---------------------------------------------------------------- a database of the two old bases
# The DDL below is what Astra made before the one results base (captured from that version's
# models, for a class-style table ``old_snr`` and a @task table ``old_rocket``): the class style
# stored ``t_setup`` (the batch's whole setup, on every member's row) and ``t_process``.

_OLD_SNR_COLUMNS = (
    '"task_id" TEXT NOT NULL, "task_family" TEXT NOT NULL, "parameters" TEXT, "astra_version_major" INTEGER NOT NULL, '
    '"astra_version_minor" INTEGER NOT NULL, "astra_version" TEXT, "created" {ts} NOT NULL, "modified" {ts} NOT NULL, '
    '"release" TEXT, "telescope" TEXT, "field" TEXT, "obj" TEXT, "plate" TEXT, "mjd" INTEGER, "fiber" INTEGER, '
    '"apred" TEXT, "apstar" TEXT, "prefix" TEXT, "run2d" TEXT, "plateid" INTEGER, "fiberid" INTEGER, "healpix" INTEGER, '
    '"sdss_id" {big}, "fieldid" TEXT, "catalogid" {big}, "cat_id" {big}, "component" TEXT, "v_astra" TEXT, '
    '"aspcap" TEXT, "results" TEXT, "location" TEXT, "t_setup" {real}, "t_process" {real}, "flags" {big} NOT NULL, '
    '"error" TEXT, "snr" {real}'
)
_OLD_ROCKET_COLUMNS = (
    '"source_pk" {big}, "spectrum_pk" {big} NOT NULL, "spectrum_mtime" {real}, "v_astra" TEXT NOT NULL, '
    '"v_astra_major_minor" TEXT NOT NULL, "created" {ts} NOT NULL, "modified" {ts} NOT NULL, "t_elapsed" {real}, '
    '"t_overhead" {real}, "tag" TEXT, "pipeline_flags" {big} NOT NULL, "error" TEXT, "snr" {real}, '
    '"result_flags" {big} NOT NULL'
)
_OLD_INDEXES = (
    'CREATE UNIQUE INDEX "oldsnr_task_id" ON "old_snr" ("task_id")',
    'CREATE INDEX "oldsnr_task_family" ON "old_snr" ("task_family")',
    'CREATE INDEX "old_rocket_source_pk" ON "old_rocket" ("source_pk")',
    'CREATE INDEX "old_rocket_spectrum_pk" ON "old_rocket" ("spectrum_pk")',
    'CREATE INDEX "old_rocket_modified" ON "old_rocket" ("modified")',
    'CREATE INDEX "old_rocket_tag" ON "old_rocket" ("tag")',
    'CREATE UNIQUE INDEX "old_rocket_spectrum_pk_v_astra_major_minor" ON "old_rocket" ("spectrum_pk", "v_astra_major_minor")',
)


def _old_database(db):
    """Make the two tables as the earlier Astra did, with rows it could have written."""
    if isinstance(db, peewee.PostgresqlDatabase):
        types, key = dict(ts="TIMESTAMP", big="BIGINT", real="DOUBLE PRECISION"), "SERIAL NOT NULL PRIMARY KEY"
    else:
        types, key = dict(ts="DATETIME", big="INTEGER", real="REAL"), "INTEGER NOT NULL PRIMARY KEY"
    db.execute_sql(f'CREATE TABLE "old_snr" ("id" {key}, {_OLD_SNR_COLUMNS.format(**types)})')
    db.execute_sql(f'CREATE TABLE "old_rocket" ("task_pk" {key}, {_OLD_ROCKET_COLUMNS.format(**types)})')
    for sql in _OLD_INDEXES:
        db.execute_sql(sql)
    when = "'2026-01-01 00:00:00'"
    # Batch A: three members sharing one 3 s setup (one failed); batch B: one member; C: none.
    for task_id, obj, setup, process, flags, error, snr in [
        ("test.Fake_a1", "a1", 3.0, 0.25, 2, None, 10.0),
        ("test.Fake_a2", "a2", 3.0, 0.5, 0, None, 20.0),
        ("test.Fake_a3", "a3", 3.0, 0.125, 1, "'ValueError: no pixels'", None),
        ("test.Fake_b1", "b1", 0.5, 1.0, 0, None, 30.0),
        ("test.Fake_c1", "c1", None, None, 0, None, 40.0),
    ]:
        values = ", ".join("NULL" if v is None else repr(v) if isinstance(v, float) else str(v)
                           for v in (setup, process, flags, error, snr))
        db.execute_sql(
            'INSERT INTO "old_snr" ("task_id", "task_family", "astra_version_major", "astra_version_minor", "created", '
            '"modified", "obj", "t_setup", "t_process", "flags", "error", "snr") '
            f"VALUES ('{task_id}', 'test.Fake', 0, 1, {when}, {when}, '{obj}', {values})"
        )
    for pk, flags, error in [(1, 0, "NULL"), (2, 1, "'OSError: empty file'")]:
        db.execute_sql(
            'INSERT INTO "old_rocket" ("spectrum_pk", "v_astra", "v_astra_major_minor", "created", "modified", '
            '"t_elapsed", "t_overhead", "tag", "pipeline_flags", "error", "snr", "result_flags") '
            f"VALUES ({pk}, '0.1.0', '0.1', {when}, {when}, 0.5, 0.25, '', {flags}, {error}, 9.0, 0)"
        )


class OldSnr(BaseResult):
    #> Values
    snr = FloatField(null=True, help_text="Signal-to-noise ratio")
    flag_low_snr = flag(2**1, help_text="S/N is low")

    class Meta:
        table_name = "old_snr"


class OldRocket(PipelineOutputMixin):
    #> Values
    snr = FloatField(null=True, help_text="Signal-to-noise ratio")
    result_flags = BitField(default=0, help_text="Flags of the method")
    flag_low_snr = result_flags.flag(2**0, help_text="S/N is low")


def test_a_database_of_both_old_bases_is_migrated_on_first_use_and_read(db_url):
    db = get_database()
    _old_database(db)
    ids = ["test.Fake_a1", "test.Fake_a2", "test.Fake_a3", "test.Fake_b1", "test.Fake_c1"]
    # First use (a completeness check, as a run makes it) migrates the table.
    assert completed_task_ids(OldSnr, ids) == {"test.Fake_a1", "test.Fake_a2", "test.Fake_b1", "test.Fake_c1"}
    columns = {c.name for c in db.get_columns("old_snr")}
    assert {"t_overhead", "t_elapsed"} <= columns and not {"t_setup", "t_process"} & columns
    rows = {r.obj: r for r in OldSnr.select()}
    # The batch's whole setup is shared among the rows that carry it, as new rows have it.
    assert [rows[o].t_overhead for o in ("a1", "a2", "a3", "b1", "c1")] == [1.0, 1.0, 1.0, 0.5, None]
    assert [rows[o].t_elapsed for o in ("a1", "a2", "a3", "b1", "c1")] == [0.25, 0.5, 0.125, 1.0, None]
    assert rows["a1"].t_process == 0.25 and rows["a1"].t_setup == 1.0  # old names read the same columns
    assert rows["a1"].flag_low_snr and not rows["a1"].flag_failed and rows["a1"].snr == 10.0
    assert rows["a3"].flag_failed and rows["a3"].flag_runtime_exception and rows["a3"].error == "ValueError: no pixels"
    assert [r.obj for r in OldSnr.select().where(OldSnr.flag_runtime_exception)] == ["a3"]
    assert [r.obj for r in OldSnr.select().where(OldSnr.t_process > 0.4).order_by(OldSnr.obj)] == ["a2", "b1"]
    # Migrating again changes nothing (the shares are not divided twice).
    report = ensure_table(OldSnr, force=True)
    assert str(report) == "old_snr: up to date" and OldSnr.get(OldSnr.obj == "a1").t_overhead == 1.0
    # New rows are written beside the old ones, and a re-run updates an old row in place.
    upsert_rows(OldSnr, [OldSnr.row_for_task(_task("d1"), {"snr": 5.0}, timing={"setup": 2.0, "process": 0.1, "spectra": 4}),
                         OldSnr.row_for_task(_task("a3"), {"snr": 7.0}, timing={"overhead": 0.3, "elapsed": 0.2})])
    rows = {r.obj: r for r in OldSnr.select()}
    assert (rows["d1"].t_overhead, rows["d1"].t_elapsed, rows["d1"].snr) == (0.5, 0.1, 5.0)
    assert (rows["a3"].snr, rows["a3"].flag_failed, rows["a3"].t_overhead) == (7.0, False, 0.3) and len(rows) == 6

    # The @task table kept its columns; its failure flag answers to both names.
    report = ensure_table(OldRocket)
    assert not report.renamed and not report.added
    failed = list(OldRocket.select().where(OldRocket.flag_failed))
    assert [r.spectrum_pk for r in failed] == [2] and failed[0].flag_runtime_exception
    assert [r.spectrum_pk for r in OldRocket.select().where(~OldRocket.flag_runtime_exception)] == [1]
    assert OldRocket.get(OldRocket.spectrum_pk == 1).t_process == 0.5


def test_astra_init_reports_the_renamed_columns(db_url):
    _old_database(get_database())
    reports = create_tables([OldSnr, OldRocket])
    assert str(reports[0]) == "old_snr: renamed columns t_process to t_elapsed, t_setup to t_overhead"
    assert str(reports[1]) == "old_rocket: up to date"


def _migrate_in_a_worker(url, start):
    connect(url)
    start.wait(30)
    ensure_table(OldSnr)
    completed_task_ids(OldSnr, ["test.Fake_a1"])


def test_processes_migrating_one_old_table_at_once_divide_the_setup_once(db_url):
    _old_database(get_database())
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [context.Process(target=_migrate_in_a_worker, args=(db_url, start)) for _ in range(3)]
    for p in workers:
        p.start()
    start.set()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0], "a process could not migrate (or use) the table"
    assert ensure_table(OldSnr, force=True).renamed == []
    assert sorted((r.obj, r.t_overhead) for r in OldSnr.select() if r.t_overhead is not None) == [
        ("a1", 1.0), ("a2", 1.0), ("a3", 1.0), ("b1", 0.5)]


def test_a_summary_product_of_an_old_table_has_the_one_meaning(db_url, tmp_path):
    from astropy.io import fits

    from astra.products.summary import create_summary

    _old_database(get_database())
    path, n = create_summary(OldSnr, path=str(tmp_path / "old.fits"), all_versions=True)
    assert n == 5
    with fits.open(path) as hdus:
        table, header = hdus[1].data, hdus[1].header
        names = list(table.columns.names)
        assert "t_setup" not in names and "t_process" not in names
        overhead = dict(zip(table["obj"], table["t_overhead"]))
        assert overhead["a1"] == 1.0 and overhead["b1"] == 0.5
        assert header["FLAG0"] == "flag_failed"
