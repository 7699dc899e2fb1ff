"""What other packages provide for a data model, registered by data-model name.

The data models (:mod:`astra.datamodels`) are pure data: keys, paths, layouts. Code that does
something with a data model's files lives in the packages above and registers itself here by
data-model name, the way specutils' ``data_loader`` registers a reader by format::

    from astra.datamodels.registry import register

    @register("synthetic_writer", "apStar")
    def write(path, keys, labels, seed, **options):
        ...

A :class:`~astra.datamodels.base.DataModel` then finds its loader, file task or synthetic
writer here (``model.loader``, ``model.file_task``, ``model.synthetic_writer``), so the data
models import nothing above them.

Roles, and the package that registers the built-in ones (:data:`PROVIDERS`):

* ``"loader"`` -- ``loader(path, **kwargs)``, the reader :meth:`DataModel.read_arrays` calls
  (:mod:`astra.tools.spectrum`);
* ``"file_task"`` -- the Luigi data-model file task, e.g. ``ApStarFile`` (:mod:`astra.tasks.io`);
* ``"synthetic_writer"`` -- ``writer(path, keys, labels, seed, **options)``
  (:mod:`astra.tools.synthetic`);
* ``"read_spectrum"``, ``"read_arrays"``, ``"check_layout"``, ``"check_structure"`` -- registered
  once for every data model (name :data:`ANY`) by :mod:`astra.tools.spectrum`; the
  :class:`~astra.datamodels.base.DataModel` methods of the same names call them.

A look-up that finds nothing imports the role's provider package once (as a plugin system loads
its entry points), so ``astra.datamodels.get("apStar").file_task`` works in a process that has
not imported :mod:`astra.tasks.io` yet.
"""

import importlib
import threading

__all__ = ["ANY", "PROVIDERS", "NotRegisteredError", "register", "provide", "lookup", "registered"]

#: The name under which something is registered for every data model.
ANY = "*"

#: Role -> the package whose import registers the built-in providers of that role.
PROVIDERS = {
    "loader": "astra.tools.spectrum",
    "read_spectrum": "astra.tools.spectrum",
    "read_arrays": "astra.tools.spectrum",
    "check_layout": "astra.tools.spectrum",
    "check_structure": "astra.tools.spectrum",
    "file_task": "astra.tasks.io",
    "synthetic_writer": "astra.tools.synthetic",
}

_registered = {}
_lock = threading.RLock()


class NotRegisteredError(LookupError):
    """Nothing is registered for a data model in a role."""


def provide(role, name, obj):
    """Register ``obj`` as data model ``name``'s ``role`` (a later registration replaces it).

    :param role: one of the keys of :data:`PROVIDERS` (or a role of your own).
    :param name: a data-model name, or :data:`ANY` for every data model.
    :param obj: the function or class.
    :returns: ``obj``.
    """
    with _lock:
        _registered[(role, name)] = obj
    return obj


def register(role, *names):
    """Decorator form of :func:`provide`, for one or more data models.

    :param role: the role.
    :param names: data-model names (or :data:`ANY`).
    """

    def decorate(obj):
        for name in names:
            provide(role, name, obj)
        return obj

    return decorate


def _load_providers(role):
    # Cheap once imported; waits for an import another thread has started (the import lock).
    module = PROVIDERS.get(role)
    if module is not None:
        importlib.import_module(module)


def lookup(role, name, default=NotRegisteredError):
    """What is registered for data model ``name`` in ``role`` (else for :data:`ANY`).

    :param role: the role.
    :param name: a data-model name.
    :param default: returned when nothing is registered; without it,
        :class:`NotRegisteredError` is raised.
    :raises NotRegisteredError: naming the role, the data model and the provider package.
    """
    for attempt in range(2):
        with _lock:
            found = _registered.get((role, name), _registered.get((role, ANY)))
        if found is not None:
            return found
        if attempt == 0:
            _load_providers(role)
    if default is not NotRegisteredError:
        return default
    where = PROVIDERS.get(role)
    raise NotRegisteredError(
        f"no {role} is registered for data model {name!r}"
        + (f" (importing {where} registers the built-in ones)" if where else "")
    )


def registered(role):
    """The data-model names with something registered in ``role`` (after loading its providers).

    :param role: the role.
    :returns: a tuple of names, in registration order.
    """
    _load_providers(role)
    with _lock:
        return tuple(name for (r, name) in _registered if r == role and name != ANY)
