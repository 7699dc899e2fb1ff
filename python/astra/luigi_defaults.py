"""Luigi settings Astra changes by default: exit codes that say a run failed.

Luigi's ``luigi`` command exits 0 when a task failed or an input was missing: its ``[retcode]``
settings all default to 0 (for backwards compatibility). Astra sets the codes Luigi's own
documentation recommends for failures as soon as it is imported (``luigi --module`` imports
the task module, and so Astra, before it reads ``[retcode]``):

==========================  =====  ===============================================
``[retcode]`` option        code   when
==========================  =====  ===============================================
``missing_data``            20     an external input is missing
``task_failed``             30     a task failed (a batch with a failed spectrum)
``scheduling_error``        35     ``complete()`` or ``requires()`` raised
``unhandled_exception``     40     Luigi itself failed
``already_running``         0      another worker runs a task (or holds ``--lock``)
``not_run``                 0      the scheduler gave no permission to run a task
==========================  =====  ===============================================

The last two stay 0: several workers sharing one luigid are always told that another worker
runs some of the tasks, and that is how the work is shared, not a failure.

A value set in a Luigi configuration file (``luigi.cfg``, ``LUIGI_CONFIG_PATH``) or on the
command line (``--retcode-task-failed 0``) wins over these.
"""

import luigi.configuration

__all__ = ["RETCODE_DEFAULTS", "apply_retcode_defaults"]

#: Astra's defaults for Luigi's ``[retcode]`` section.
RETCODE_DEFAULTS = {
    "missing_data": 20,
    "task_failed": 30,
    "scheduling_error": 35,
    "unhandled_exception": 40,
}


def apply_retcode_defaults(config=None):
    """Set each ``[retcode]`` option the user's Luigi configuration does not set.

    :param config: a Luigi configuration parser (default: Luigi's own).
    :returns: the names of the options set.
    """
    config = config if config is not None else luigi.configuration.get_config()
    applied = []
    for name, code in RETCODE_DEFAULTS.items():
        try:
            if not config.has_option("retcode", name):
                config.set("retcode", name, str(code))
                applied.append(name)
        except Exception as error:  # a configuration parser we cannot write to: keep Luigi's
            import logging

            logging.getLogger("astra").debug("cannot set [retcode] %s: %s", name, error)
    return applied
