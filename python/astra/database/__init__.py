"""The results database: one row per spectrum's task identity, SQLite or PostgreSQL.

* :mod:`astra.database.connection` -- the database (``sqlite:///...`` by default,
  ``postgresql://...`` on a cluster), bound at runtime and safe across forks;
* :mod:`astra.fields` -- column types with help text and units, named flags (the field types
  are imported from there: ``from astra.fields import FloatField``);
* :mod:`astra.database.models` -- the one results base: :class:`BaseResult` (keyed by task
  identity) and ``PipelineOutputMixin`` (keyed by spectrum and major.minor), one meaning for
  the timing columns and the failure flag; :mod:`astra.database.schema` -- the rules they share;
* :mod:`astra.database.migrations` -- creating tables and adding new columns (``astra init``);
* :mod:`astra.database.writer` -- batched upserts (:class:`ResultWriter`);
* :mod:`astra.database.target` -- :class:`DatabaseTarget`, bulk completeness and
  :class:`DatabaseOutputMixin` for tasks;
* :mod:`astra.database.examples` -- moved to :mod:`astra.contrib.rocket.results` (re-exported).
"""

from astra.database.connection import (
    DatabaseURLError,
    connect,
    database,
    get_database,
    redact_url,
    reset,
    resolve_url,
    write_transaction,
)
from astra import fields as _fields
from astra.database.migrations import (
    MigrationError,
    create_tables,
    ensure_table,
    forget_tables,
    import_model_modules,
    registered_models,
)
from astra.database.models import (
    DATA_MODEL_KEYS,
    RESULT_MODELS,
    BaseResult,
    ModelDefinitionError,
    PipelineOutputMixin,
    Result,
    ResultSchema,
)
from astra.database.target import DatabaseOutputMixin, DatabaseTarget, completed_task_ids
from astra.database.writer import ResultWriter, upsert_rows

__all__ = [
    "database",
    "connect",
    "get_database",
    "reset",
    "resolve_url",
    "redact_url",
    "write_transaction",
    "DatabaseURLError",
    "BaseResult",
    "PipelineOutputMixin",
    "Result",
    "ModelDefinitionError",
    "DATA_MODEL_KEYS",
    "RESULT_MODELS",
    "create_tables",
    "ensure_table",
    "forget_tables",
    "MigrationError",
    "ResultWriter",
    "upsert_rows",
    "DatabaseTarget",
    "DatabaseOutputMixin",
    "completed_task_ids",
    "get_model",
]


def __getattr__(name):
    """``from astra.database import FloatField`` (and the other field types) still works, and says
    where they are imported from now."""
    if name in _fields.__all__:
        import warnings

        warnings.warn(
            f"import the field types from astra.fields: 'from astra.fields import {name}' "
            f"(astra.database.{name} is the same class)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_fields, name)
    raise AttributeError(f"module 'astra.database' has no attribute {name!r}")


def get_model(name):
    """Find a results model by dotted path or registered name.

    :param name: ``"astra.database.examples.EstimateSNRResult"``, or a registered name such as
        ``"estimatesnr"`` / ``"EstimateSNRResult"`` (case-insensitive; models in the
        ``result_modules`` setting are imported first).
    :raises LookupError: naming the known models.
    """
    import importlib

    if "." in name:
        module_name, _, attr = name.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise LookupError(f"cannot import {module_name!r} for results model {name!r}: {error}") from None
        model = getattr(module, attr, None)
        if not (isinstance(model, type) and issubclass(model, ResultSchema)
                and not model.__dict__.get("__abstract_base__") and model.schema_root() is not model):
            raise LookupError(f"{name!r} is not a results model (a BaseResult or PipelineOutputMixin subclass)")
        return model
    import_model_modules()
    key = name.lower()
    for candidate in (key, key[:-6] if key.endswith("result") else key + "result"):
        if candidate in RESULT_MODELS:
            return RESULT_MODELS[candidate]
    known = ", ".join(m.__name__ for m in registered_models()) or "none"
    raise LookupError(
        f"no results model named {name!r} (known: {known}); give a dotted path such as "
        "astra.database.examples.EstimateSNRResult or add its module to the result_modules setting"
    )
