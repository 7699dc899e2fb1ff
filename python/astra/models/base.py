"""The base of every model in the results database."""

import peewee

from astra.database.connection import database

__all__ = ["BaseModel"]


class BaseModel(peewee.Model):
    """A peewee model bound to the configured results database.

    The database is :data:`astra.database.database`: SQLite by default, PostgreSQL when
    ``ASTRA_DATABASE_URL`` (or the ``database_url`` setting) says so, opened on first use.
    Table names are the snake-case class names (``BossVisitSpectrum`` -> ``boss_visit_spectrum``).
    """

    class Meta:
        database = database
        legacy_table_names = False
