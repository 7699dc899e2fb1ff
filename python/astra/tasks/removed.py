"""Names of tasks that are gone, kept so that using one says what to write instead.

``removed_task("EstimateSNRToDatabase", "...")`` is a Luigi task class whose construction
raises :class:`RemovedTaskError` with that advice, so both ``from module import Name; Name(...)``
and ``luigi --module module Name ...`` fail with the message instead of a bare "no such task".
"""

import luigi

__all__ = ["RemovedTaskError", "removed_task"]


class RemovedTaskError(TypeError):
    """A task that no longer exists was used; the message says what to use instead."""


def removed_task(name, instead, module=None):
    """A placeholder task class named ``name`` that raises :class:`RemovedTaskError` when made.

    :param name: the removed class's name.
    :param instead: what to write instead (a sentence).
    :param module: the module it lived in (for the message and ``__module__``).
    """
    message = f"{name} was removed: {instead}"

    def refuse(cls, *args, **kwargs):
        raise RemovedTaskError(message)

    # Luigi resolves parameters (get_param_values) before __init__: refuse there.
    attributes = {"get_param_values": classmethod(refuse), "__doc__": message, "__module__": module or __name__}
    return type(name, (luigi.Task,), attributes)
