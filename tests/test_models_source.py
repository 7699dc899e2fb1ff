"""astra.models.source: one row per star, found again by its identifier."""

import pytest

from astra.models.source import Source, resolve_sources
from astra.database import get_database, write_transaction


def test_resolve_sources_creates_each_star_once(db_url):
    db = get_database()
    wanted = {("sdss4_apogee_id", "2M00000001+0000001"): (1.0, 2.0), ("sdss_id", 42): (3.0, 4.0)}
    with write_transaction(db):
        first = resolve_sources(wanted, db)
    assert set(first) == set(wanted) and len(set(first.values())) == 2
    with write_transaction(db):
        again = resolve_sources({**wanted, ("catalogid", 10**16 + 7): (None, None)}, db)
    assert {k: again[k] for k in wanted} == first  # known stars keep their pk
    assert Source.select().count() == 3
    star = Source.get(Source.sdss_id == 42)
    assert (star.ra, star.dec, star.sdss4_apogee_id) == (3.0, 4.0, None)
    assert repr(star) == f"<Source pk={star.pk} sdss_id=42>"


def test_a_new_source_saved_by_hand_gets_the_next_pk(db_url):
    a = Source.create(sdss4_apogee_id="2M1")
    b = Source.create(sdss_id=7)
    assert b.pk == a.pk + 1
    with pytest.raises(Exception):
        Source.create(sdss_id=7)  # one row per identifier
