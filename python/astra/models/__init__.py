"""Peewee models in the results database: the spectrum catalogue and the pipeline results.

* :mod:`astra.models.base` -- :class:`~astra.models.base.BaseModel`, bound to the configured
  results database (:data:`astra.database.database`);
* the catalogue (``source``, ``apogee``, ``boss``, ``mwm``) and the results mixin
  (``pipeline``) live in their own modules.
"""
