"""astra migrate re-reads the files whose rows an older reader made, and corrects them in place."""

import pytest

from astra.database import get_database
from astra.database.migrations import forget_tables
from astra.models.boss import BossVisitSpectrum as Boss
from astra.models.migrate import migrate_files
from astra.models.source import Source
from astra.models.spectrum import Spectrum

pytestmark = pytest.mark.realdata

#: What the reader before version 2 wrote for spec-3586-55181-0500: the telescope's boresight.
BORESIGHT = (8.001738, 0.001221)
STAR = (6.7137386, 0.0124592)


def _as_an_older_reader_left_it():
    Boss.update(ra=BORESIGHT[0], dec=BORESIGHT[1], reader_version=None).execute()
    Source.update(ra=BORESIGHT[0], dec=BORESIGHT[1]).execute()


def test_rows_of_an_older_reader_are_read_again_and_corrected(real_sas, db_url):
    first = migrate_files("dr13", "spec", sas_base_dir=real_sas)
    assert (first.new, first.reread) == (1, 0)
    row = Boss.get()
    assert row.reader_version == Boss.READER_VERSION
    assert (row.ra, row.dec) == pytest.approx(STAR, abs=1e-6)
    _as_an_older_reader_left_it()

    second = migrate_files("dr13", "spec", sas_base_dir=real_sas)
    assert (second.new, second.changed, second.unchanged, second.reread, second.bad) == (0, 1, 0, 1, 0)
    assert "1 re-read" in str(second)
    again = Boss.get()
    assert again.spectrum_pk == row.spectrum_pk and again.source.pk == row.source.pk  # in place
    assert (again.ra, again.dec) == pytest.approx(STAR, abs=1e-6)
    assert again.reader_version == Boss.READER_VERSION
    assert (Source.get().ra, Source.get().dec) == pytest.approx(STAR, abs=1e-6)
    assert (Boss.select().count(), Source.select().count(), Spectrum.select().count()) == (1, 1, 1)

    third = migrate_files("dr13", "spec", sas_base_dir=real_sas)
    assert (third.unchanged, third.reread, third.changed) == (1, 0, 0)


def test_a_catalogue_made_before_rows_recorded_their_reader(real_sas, sqlite_url, monkeypatch):
    import astra.config

    monkeypatch.setenv("ASTRA_DATABASE_URL", sqlite_url)
    astra.config.reload()
    migrate_files("dr13", "spec", sas_base_dir=real_sas)
    pk = Boss.get().spectrum_pk
    _as_an_older_reader_left_it()
    get_database().execute_sql(f"ALTER TABLE {Boss._meta.table_name} DROP COLUMN reader_version")
    forget_tables()  # a new process meets the old table

    summary = migrate_files("dr13", "spec", sas_base_dir=real_sas)
    assert (summary.reread, summary.changed, summary.new) == (1, 1, 0)
    row = Boss.get()
    assert row.spectrum_pk == pk and (row.ra, row.dec) == pytest.approx(STAR, abs=1e-6)
    assert Boss.select().count() == 1
