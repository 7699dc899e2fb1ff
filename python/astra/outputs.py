"""Where a task's results are: the directory or table of a task class, the target of a spectrum.

Output file names are identity hashes (see :mod:`astra.tasks.identity`), so a star's results
are found by building its task again from its keys, never by searching names; ``astra find``
does that and prints each spectrum's output and whether it exists.
"""

import luigi

__all__ = ["results_location", "describe_target", "member_outputs"]


def _database_model(task_class):
    from astra.database.target import DatabaseOutputMixin

    return getattr(task_class, "result_model", None) if issubclass(task_class, DatabaseOutputMixin) else None


def results_location(task_class):
    """Where the results of ``task_class`` are written, as one line of text.

    :param task_class: an Astra task class.
    :returns: e.g. ``"/home/me/astra-output/EstimateSNR"`` (files named by identity hash) or
        ``"table estimatesnr in sqlite:////home/me/astra-output/astra.db"``; ``None`` when the
        task does not say (a plain Luigi task with its own ``output()``).
    """
    model = _database_model(task_class)
    if model is not None:
        from astra.database.connection import redact_url, resolve_url

        return f"table {model._meta.table_name} in {redact_url(resolve_url())}"
    root = getattr(task_class, "_output_root", None)
    return root().rstrip("/") if callable(root) else None


def describe_target(target):
    """One line naming a target: a file's path, or a result row's table and task id.

    :param target: a Luigi target.
    """
    from astra.database.target import DatabaseTarget

    if isinstance(target, DatabaseTarget):
        return f"{target.model._meta.table_name} row {target.task_id}"
    return getattr(target, "path", None) or repr(target)


def member_outputs(task):
    """Each single-spectrum member of ``task`` (a batch or one spectrum) with its output targets.

    :param task: a task (a batch yields every member).
    :returns: an iterator of ``(member, [target, ...])``.
    """
    members = task.get_batch_tasks() if hasattr(task, "get_batch_tasks") else [task]
    for member in members:
        yield member, luigi.task.flatten(member.output())
