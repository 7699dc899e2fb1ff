"""Provenance of every result: how it was made, stored once per distinct value.

* :mod:`astra.provenance.record` -- what is recorded (the method's parameters, the code, the
  host and run, hashes of path parameters) and the input-file facts of each row;
* :mod:`astra.provenance.table` -- the ``astra_provenance`` table, one row per distinct record,
  keyed by its digest; result rows reference it by ``provenance_pk``;
* :mod:`astra.provenance.columns` -- :class:`ProvenanceColumns`, the columns both results bases
  include (``provenance_pk``, ``input_size``, ``input_checksum``).

See ``docs/provenance.rst``. Import from the submodules (this package imports nothing, so that
the results bases can include the columns without an import cycle).
"""
