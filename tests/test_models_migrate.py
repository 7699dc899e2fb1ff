"""astra.models.migrate: incremental ingestion (new, changed, unchanged, gone) and bad files."""

import csv
import os

import pytest

from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
from astra.models.migrate import GONE_REASON, migrate_files
from astra.models.spectrum import Spectrum
from astra.tools import synthetic
from catalogue_helpers import touch_later


@pytest.fixture
def sas(tmp_path):
    """A SAS tree of 12 synthetic dr13 apStar files."""
    root = tmp_path / "sas"
    tree = synthetic.write_sample_tree(root, 12, release="dr13", species="apStar", seed=3)
    return root, tree


def _rows():
    return {row.path: row for row in Star.select()}


def test_second_run_adds_new_updates_changed_and_leaves_the_rest(sas, db_url):
    root, tree = sas
    first = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (first.new, first.changed, first.unchanged, first.bad) == (12, 0, 0, 0)
    before = _rows()
    assert set(before) == set(tree.paths)

    # One file rewritten (other content, other size), one touched, two added, one removed.
    synthetic.write_apstar(tree.paths[0], n_visits=3, obj=tree[0]["obj"], seed=9)
    touch_later(tree.paths[1])
    more = synthetic.write_sample_tree(root, 2, release="dr13", species="apStar", seed=4)
    os.remove(tree.paths[2])

    second = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (second.new, second.changed, second.unchanged, second.bad, second.gone) == (2, 2, 9, 0, 1)
    assert second.exit_code == 1  # a row names a file that is not there
    after = _rows()
    assert set(after) == set(tree.paths) | set(more.paths)  # the gone file's row is kept, flagged
    assert after[tree.paths[2]].flag_bad_file and after[tree.paths[2]].bad_file_reason == GONE_REASON
    changed = after[tree.paths[0]]
    assert changed.spectrum_pk == before[tree.paths[0]].spectrum_pk  # updated in place
    assert changed.n_visits == 3 and changed.file_size == os.path.getsize(tree.paths[0])
    assert after[tree.paths[1]].file_mtime == os.stat(tree.paths[1]).st_mtime
    assert after[tree.paths[5]].modified == before[tree.paths[5]].modified  # unchanged: not rewritten
    assert Spectrum.select().count() == 14

    third = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (third.new, third.changed, third.unchanged, third.gone, third.exit_code) == (0, 0, 13, 1, 1)
    assert _rows()[tree.paths[2]].modified == after[tree.paths[2]].modified  # flagged once, not again


def test_a_gone_file_that_comes_back_is_read_again(sas, db_url):
    root, tree = sas
    migrate_files("dr13", "apStar", sas_base_dir=str(root))
    kept = tree.paths[3] + ".kept"
    os.rename(tree.paths[3], kept)
    gone = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (gone.gone, gone.flagged, gone.exit_code) == (1, 1, 1)
    assert "1 known files are gone (flagged)" in str(gone)
    os.rename(kept, tree.paths[3])  # same size and mtime as when it was ingested
    back = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (back.changed, back.unchanged, back.gone, back.exit_code) == (1, 11, 0, 0)
    row = _rows()[tree.paths[3]]
    assert not row.flag_bad_file and row.bad_file_reason is None and row.snr is not None


@pytest.mark.parametrize("how", ["empty", "truncated", "not-fits"])
def test_a_broken_file_gets_a_row_flagged_with_the_reason(sas, db_url, how):
    root, tree = sas
    synthetic.corrupt_file(tree.paths[4], how)
    summary = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    # The bad file is counted as bad, not as new.
    assert (summary.new, summary.bad, summary.bad_new, summary.found, summary.exit_code) == (11, 1, 1, 12, 1)
    assert "12 files: 11 new, 0 changed, 0 unchanged, 1 bad (1 new, 0 changed; flagged)" in str(summary)
    row = _rows()[tree.paths[4]]
    assert row.flag_bad_file
    expected = {"empty": "empty file", "truncated": "truncated", "not-fits": "not a FITS file"}[how]
    assert expected in row.bad_file_reason
    assert summary.bad_files == [(tree.paths[4], row.bad_file_reason)]
    assert row.obj == tree[4]["obj"]  # keys come from the path, even for a bad file
    assert sum(not r.flag_bad_file for r in _rows().values()) == 11

    again = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    # Not read again (unchanged), but still flagged: the run is not clean until it is fixed.
    assert (again.unchanged, again.bad, again.still_bad, again.exit_code) == (12, 0, 1, 1)
    # Repaired: the row is read again and no longer flagged.
    synthetic.write_apstar(tree.paths[4], obj=tree[4]["obj"], seed=1)
    repaired = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (repaired.changed, repaired.bad, repaired.exit_code) == (1, 0, 0)
    row = _rows()[tree.paths[4]]
    assert not row.flag_bad_file and row.bad_file_reason is None and row.snr is not None


def test_a_file_of_another_data_model_is_flagged(sas, db_url, tmp_path):
    root, tree = sas
    synthetic.write_apvisit(tree.paths[6], plate=1, mjd=55555, fiber=3, seed=2)
    synthetic.write_aspcapstar(tree.paths[7], seed=2)
    summary = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert summary.bad == 2
    rows = _rows()
    for index, other in ((6, "apVisit"), (7, "aspcapStar")):
        assert rows[tree.paths[index]].flag_bad_file
        assert other in rows[tree.paths[index]].bad_file_reason


def test_key_filters_narrow_the_files_and_the_rows_compared(sas, db_url):
    root, tree = sas
    field = tree[0]["field"]
    expected = {p for p, k in zip(tree.paths, tree) if k["field"] == field}
    summary = migrate_files("dr13", "apStar", sas_base_dir=str(root), field=field)
    assert summary.new == len(expected) and set(_rows()) == expected
    # Other fields are not "gone" for a run that only looked at one field.
    rest = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (rest.new, rest.unchanged, rest.gone) == (12 - len(expected), len(expected), 0)
    again = migrate_files("dr13", "apStar", sas_base_dir=str(root), field=field)
    assert (again.new, again.unchanged, again.gone) == (0, len(expected), 0)


def test_keys_table_names_the_files(sas, db_url, tmp_path):
    root, tree = sas
    table = tmp_path / "keys.csv"
    with open(table, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=list(tree[0]))
        writer.writeheader()
        writer.writerows(tree[:3])
        writer.writerow({**tree[0], "obj": "2M00000000+0000000"})  # no such file
    summary = migrate_files("dr13", "apStar", sas_base_dir=str(root), keys_table=str(table))
    assert summary.new == 3 and set(_rows()) == set(tree.paths[:3])
    assert [n for n, _ in summary.unresolved] == [4] and "No such file" in summary.unresolved[0][1]
    assert summary.exit_code == 1


def test_worker_processes_give_the_same_rows(sas, db_url, monkeypatch):
    import astra.models.migrate as engine

    root, tree = sas
    synthetic.corrupt_file(tree.paths[2], "truncated")
    monkeypatch.setattr(engine, "POOL_THRESHOLD", 1)
    monkeypatch.setattr(engine, "READ_CHUNK", 5)
    monkeypatch.setattr(engine, "WRITE_CHUNK", 4)  # three transactions, with the larger page cache
    from astra.database.connection import get_database, is_postgresql

    db = get_database()
    sqlite = not is_postgresql(db)
    before = db.execute_sql("PRAGMA cache_size").fetchone()[0] if sqlite else None
    summary = migrate_files("dr13", "apStar", sas_base_dir=str(root), workers=2)
    assert (summary.new, summary.bad) == (11, 1)
    rows = _rows()
    assert rows[tree.paths[2]].flag_bad_file and rows[tree.paths[3]].snr is not None
    assert len(rows) == 12 and Spectrum.select().count() == 12
    if sqlite:  # the connection's own setting is back
        assert db.execute_sql("PRAGMA cache_size").fetchone()[0] == before


def test_bad_arguments_are_refused_with_their_name(sas, db_url):
    root, _ = sas
    with pytest.raises(ValueError, match="no key plate"):
        migrate_files("dr13", "apStar", sas_base_dir=str(root), plate="1")
    with pytest.raises(LookupError, match="no catalogue table holds 'apFoo'"):
        migrate_files("dr13", "apFoo", sas_base_dir=str(root))


def test_two_migrations_at_once_do_not_collide(tmp_path, any_database_url):
    import subprocess
    import sys

    root = tmp_path / "sas"
    tree = synthetic.write_sample_tree(root, 60, release="dr13", species="apStar", seed=8)
    env = dict(os.environ, ASTRA_DATABASE_URL=any_database_url)
    args = [sys.executable, "-m", "astra.cli", "migrate", "--release", "dr13", "--species", "apStar",
            "--sas-base-dir", str(root), "--workers", "1", "--no-progress"]
    runs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    import astra.database

    astra.database.connect(any_database_url)
    assert {row.path for row in Star.select()} == set(tree.paths)
    assert Star.select().count() == 60


def test_a_dry_run_counts_without_reading_or_writing(sas, db_url):
    root, tree = sas
    synthetic.corrupt_file(tree.paths[0], "empty")
    dry = migrate_files("dr13", "apStar", sas_base_dir=str(root), dry_run=True)
    assert (dry.new, dry.changed, dry.unchanged, dry.bad, dry.found) == (12, 0, 0, 0, 12)  # not read: not bad yet
    migrate_files("dr13", "apStar", sas_base_dir=str(root))
    os.remove(tree.paths[1])
    touch_later(tree.paths[2])
    more = synthetic.write_sample_tree(root, 1, release="dr13", species="apStar", seed=21)
    dry = migrate_files("dr13", "apStar", sas_base_dir=str(root), dry_run=True)
    assert (dry.new, dry.changed, dry.unchanged, dry.still_bad, dry.gone) == (1, 1, 10, 1, 1)
    rows = _rows()
    assert not rows[tree.paths[1]].flag_bad_file and more.paths[0] not in rows  # nothing written


def test_paths_are_stored_absolute_from_a_relative_root(sas, db_url, tmp_path, monkeypatch):
    root, tree = sas
    monkeypatch.chdir(tmp_path)
    summary = migrate_files("dr13", "apStar", sas_base_dir="sas")
    assert summary.new == 12
    assert set(_rows()) == {os.path.abspath(p) for p in tree.paths}
    assert all(os.path.isabs(p) for p in _rows())


def test_rows_are_keyed_by_data_model_keys_not_by_the_path_string(sas, db_url, tmp_path):
    root, tree = sas
    migrate_files("dr13", "apStar", sas_base_dir=str(root))
    pks = {row.obj: row.spectrum_pk for row in Star.select()}
    # The same tree reached through another directory: the same 12 spectra, not 12 more.
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    again = migrate_files("dr13", "apStar", sas_base_dir=str(alias))
    assert (again.new, again.gone, again.bad) == (0, 0, 0), str(again)
    rows = list(Star.select())
    assert len(rows) == 12 and {row.obj: row.spectrum_pk for row in rows} == pks
    assert all(row.path.startswith(str(alias)) and not row.flag_bad_file for row in rows)
    assert Spectrum.select().count() == 12


def test_a_catalogue_with_relative_paths_is_repaired_without_duplicates(sas, db_url, tmp_path, monkeypatch):
    root, tree = sas
    migrate_files("dr13", "apStar", sas_base_dir=str(root))
    # What an older Astra wrote for `astra migrate --sas-base-dir sas` run in tmp_path.
    for row in Star.select():
        Star.update(path=os.path.relpath(row.path, str(tmp_path))).where(Star.spectrum_pk == row.spectrum_pk).execute()
    assert not any(os.path.isabs(p) for p in _rows())
    pks = {row.obj: row.spectrum_pk for row in Star.select()}
    monkeypatch.chdir(tmp_path)
    repaired = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (repaired.new, repaired.changed, repaired.gone, repaired.bad) == (0, 12, 0, 0), str(repaired)
    assert repaired.exit_code == 0
    assert set(_rows()) == set(tree.paths)
    assert {row.obj: row.spectrum_pk for row in Star.select()} == pks
    third = migrate_files("dr13", "apStar", sas_base_dir="sas")  # relative again: the same rows, unchanged
    assert (third.new, third.changed, third.unchanged, third.gone) == (0, 0, 12, 0), str(third)


def test_a_directory_named_like_a_file_and_a_symlink_loop_are_flagged(sas, db_url):
    root, tree = sas
    directory = os.path.dirname(tree.paths[0])
    not_a_file = os.path.join(directory, "apStar-r6-2M00000000+0000000.fits")
    loop = os.path.join(directory, "apStar-r6-2M11111111+1111111.fits")
    os.mkdir(not_a_file)
    os.symlink(os.path.basename(loop), loop)
    summary = migrate_files("dr13", "apStar", sas_base_dir=str(root))
    assert (summary.new, summary.bad, summary.bad_new) == (12, 2, 2), str(summary)
    assert summary.exit_code == 1
    reasons = dict(summary.bad_files)
    assert reasons[not_a_file] == "is not a file (a directory)"
    assert reasons[loop] == "cannot read: Too many levels of symbolic links"
    rows = _rows()
    assert rows[not_a_file].flag_bad_file and rows[loop].flag_bad_file and len(rows) == 14
    again = migrate_files("dr13", "apStar", sas_base_dir=str(root))  # still flagged, not read again
    assert (again.unchanged, again.still_bad, again.bad) == (14, 2, 0), str(again)
