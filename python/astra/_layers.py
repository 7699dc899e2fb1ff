"""The layers of Astra's package, lowest first: a module may import only from its own layer or below.

``tests/test_architecture.py`` checks every import of every module against this table (imports
inside functions count too), and ``docs/architecture.rst`` explains it. Each entry names a module
or a package (its submodules included); the most specific entry wins, and ``"astra"`` names only
the facade ``astra/__init__.py``. A new module must fall under some entry, so adding a module
means deciding its layer.
"""

__all__ = ["LAYERS", "layer_of"]

#: ``(layer, description, entries)``, lowest layer first.
LAYERS = (
    ("foundation", "settings, names, processes, retries, Luigi parameter and target types; the engine core",
     ("astra._layers", "astra.version", "astra.suggest", "astra.config", "astra.processes", "astra.utils", "astra.forking",
      "astra.luigi_defaults", "astra.luigi_glue", "astra.parameters", "astra.targets", "astra.retry", "astra.logfiles", "astra.module_hint", "astra.core")),
    ("datamodels", "pure data: keys per release, path templates, HDU layouts, grids; the registry",
     ("astra.datamodels",)),
    ("io", "spectrum readers, the lean FITS reader, synthetic writers",
     ("astra.tools",)),
    ("storage", "the results database: connection, field types, schema, upserts, FITS tables",
     ("astra.database", "astra.fields", "astra.products.fits_table")),
    ("catalogue", "catalogue and run-record tables (peewee models), astra migrate",
     ("astra.models",)),
    ("runtime", "tasks of both method styles, the run loop, claims, summaries, run recording, shares",
     ("astra.tasks", "astra.luigi_glue.cmdline", "astra.runs", "astra.run_recorder", "astra.claims", "astra.runner", "astra.outputs",
      "astra.cluster.partition", "astra.cluster.shares", "astra.cluster.scheduler")),
    ("services", "summary products, clusters (luigid, Slurm), the daily pipeline",
     ("astra.products", "astra.cluster", "astra.cluster.shares.progress", "astra.daily")),
    ("facade", "``import astra``: the names a method module uses (task, build, parameters, inherits)",
     ("astra",)),
    ("methods", "analysis methods, and the old paths of moved methods (shims)",
     ("astra.contrib", "astra.database.examples", "astra.tasks.continuum")),
    ("interfaces", "the command line and the web application",
     ("astra.cli", "astra.commands", "astra.web", "astra.etc.astra_daily_dag")),
)

_RANK = {entry: (rank, name) for rank, (name, _, entries) in enumerate(LAYERS) for entry in entries}


def layer_of(module):
    """The ``(rank, layer name)`` of a dotted module name, or ``None`` when no entry covers it.

    :param module: e.g. ``"astra.tasks.plan"``.
    """
    if module == "astra":
        return _RANK["astra"]
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        found = _RANK.get(".".join(parts[:end]))
        if found is not None:
            return found
    return None
