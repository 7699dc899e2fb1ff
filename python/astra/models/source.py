"""Stars: one :class:`Source` row per astronomical object, shared by all its spectra.

A source is identified by the best identifier its data models give, in this order:

* ``sdss_id`` -- the SDSS-V identifier (mwmStar/mwmVisit keys; ``SDSS_ID`` in a header);
* ``catalogid`` -- the SDSS-V catalog identifier (specLite/specFull keys);
* ``sdss4_apogee_id`` -- the APOGEE object name, 2MASS style (apStar ``obj``, ``OBJID``);
* ``sdss4_thing_id`` -- the SDSS-IV photometric object of a BOSS spectrum (``THING_ID``).

Each identifier column is unique, so ingesting the same star twice finds the same row. A star
observed by APOGEE in SDSS-IV and by BOSS in SDSS-V is two sources unless its spectra carry
the same ``sdss_id``.
::

    from astra.models.source import Source

    star = Source.get(Source.sdss4_apogee_id == "2M00452143+1634446")
    from astra.models.apogee import ApogeeVisitSpectrum as Visit

    for visit in Visit.select().where(Visit.source == star):
        print(visit.path, visit.snr)
"""

from astra.database.connection import write_transaction
from astra.database.migrations import ensure_table
from astra.fields import BigIntegerField, FloatField, TextField
from astra.models.base import BaseModel
from astra.models.bulk import allocate_pks, insert_tuples, select_in

__all__ = ["Source", "SOURCE_IDENTIFIERS", "resolve_sources"]

#: The identifier columns of :class:`Source`, best first.
SOURCE_IDENTIFIERS = ("sdss_id", "catalogid", "sdss4_apogee_id", "sdss4_thing_id")


class Source(BaseModel):
    """One star (or other object), keyed by ``sdss_id`` where known, else by a survey's id."""

    pk = BigIntegerField(primary_key=True, help_text="Primary key")
    sdss_id = BigIntegerField(null=True, unique=True, help_text="SDSS-V identifier")
    catalogid = BigIntegerField(null=True, unique=True, help_text="SDSS-V catalog identifier")
    sdss4_apogee_id = TextField(null=True, unique=True, help_text="APOGEE (2MASS-style) object name")
    sdss4_thing_id = BigIntegerField(null=True, unique=True, help_text="SDSS-IV BOSS THING_ID")
    ra = FloatField(null=True, unit="deg", help_text="Right ascension of the first spectrum")
    dec = FloatField(null=True, unit="deg", help_text="Declination of the first spectrum")

    @classmethod
    def select(cls, *fields):
        """A peewee ``SELECT`` on the sources (the table is created first if need be)."""
        ensure_table(cls)
        return super().select(*fields)

    def save(self, *args, **kwargs):
        """Save the row; a new source without ``pk`` gets the next free one."""
        if self.pk is not None:
            return super().save(*args, **kwargs)

        ensure_table(Source)
        with write_transaction():
            self.pk = allocate_pks(Source, 1)[0]
            kwargs["force_insert"] = True
            return super().save(*args, **kwargs)

    def __repr__(self):
        for name in SOURCE_IDENTIFIERS:
            value = getattr(self, name)
            if value is not None:
                return f"<Source pk={self.pk} {name}={value!r}>"
        return f"<Source pk={self.pk}>"

    __str__ = __repr__


def resolve_sources(wanted, db):
    """The ``pk`` of the source of each identifier, creating the sources not yet known.

    One query per identifier column finds the known sources; the new ones are inserted with
    one ``executemany``. Call it inside the caller's write transaction.

    :param wanted: a dict of ``(column, value)`` -> ``(ra, dec)`` for each identifier needed
        (``column`` one of :data:`SOURCE_IDENTIFIERS`).
    :param db: the database.
    :returns: a dict of ``(column, value)`` -> source ``pk``.
    """
    ensure_table(Source, db=db)
    found = {}
    by_column = {}
    for column, value in wanted:
        by_column.setdefault(column, []).append(value)
    for column, values in by_column.items():
        for pk, value in select_in(Source, ("pk", column), column, values, db):
            found[(column, value)] = pk
    new = [key for key in wanted if key not in found]
    if new:
        pks = allocate_pks(Source, len(new), db)
        names = ("pk", *SOURCE_IDENTIFIERS, "ra", "dec")
        place = {column: 1 + i for i, column in enumerate(SOURCE_IDENTIFIERS)}
        empty = [None] * len(names)
        rows = []
        for pk, key in zip(pks, new):
            column, value = key
            row = empty.copy()
            row[0], row[place[column]], (row[-2], row[-1]) = pk, value, wanted[key]
            rows.append(tuple(row))
            found[key] = pk
        insert_tuples(Source, names, rows, db)
    return found

