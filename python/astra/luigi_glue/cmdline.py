"""``luigi --module ...``: a command-line key that the task lacks but its ``requires()`` needs.

Seed 002 writes a task that requires ``ApVisitFile(**self.get_common_param_kwargs(ApVisitFile))``
without declaring the apVisit keys. Python's constructor then says to decorate the class with
``@astra.inherits(ApVisitFile)`` (:mod:`astra.tasks.plan`); Luigi's command line, which parses
the arguments before any task exists, would only say ``unrecognized arguments: --release dr13
...``. :func:`install` makes that one line name the decorator too, when another task (the one
``requires()`` names first) has the parameters. Other command-line errors are Luigi's own.

Astra installs it when imported (``luigi --module`` imports the task module, and so Astra,
before it parses the task's arguments).
"""

import sys

from luigi.cmdline_parser import CmdlineParser

from astra.luigi_glue.registry import Register, TaskClassException

__all__ = ["install", "inherits_hint"]

_ORIGINAL = CmdlineParser.__dict__["_build_parser"]


def inherits_hint(root_task, message):
    """One line for Luigi's ``unrecognized arguments`` error that names ``@astra.inherits``.

    :param root_task: the task family given on the command line.
    :param message: argparse's message (``"unrecognized arguments: --release dr13 ..."``).
    :returns: the line, or ``None`` when no registered task has the unrecognized parameters.
    """
    from astra.tasks.plan import classes_with_parameter  # import astra stays light: the plan only on an error

    if not message.startswith("unrecognized arguments"):
        return None
    try:
        task_class = Register.get_task_cls(root_task)
    except TaskClassException:
        return None
    names = [token[2:].split("=", 1)[0].replace("-", "_") for token in message.split(":", 1)[1].split()
             if token.startswith("--")]
    if not names:
        return None
    owners = [classes_with_parameter(name, task_class) for name in names]
    common = [owner for owner in owners[0] if all(owner in others for others in owners)]
    if not common:
        return None
    owner = common[0]
    given = " ".join(f"--{name.replace('_', '-')}" for name in names)
    return (f"{root_task} has no parameter {given}; {owner} has them (its requires() passes them on): decorate "
            f"the class with @astra.inherits({owner}) (docs/coming-from-sdss-astra.rst)")


def _build_parser(root_task=None, help_all=False):
    parser = _ORIGINAL.__func__(root_task=root_task, help_all=help_all)
    if root_task:
        luigi_error = parser.error

        def error(message):
            line = inherits_hint(root_task, message)
            if line is None:
                luigi_error(message)
            print(f"luigi: error: {line}", file=sys.stderr)
            sys.exit(2)

        parser.error = error
    return parser


def install():
    """Make Luigi's command-line parser name ``@astra.inherits`` for a missing data-model key
    (idempotent)."""
    CmdlineParser._build_parser = staticmethod(_build_parser)
