"""``astra init``: creating tables (idempotent) and adding new columns without losing data."""

import peewee
import pytest

from astra.cli import main
from astra.database import BaseResult, connect, create_tables, get_database, upsert_rows
from astra.fields import FloatField, TextField
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
