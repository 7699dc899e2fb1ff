"""The ``astra`` command.

Subcommands live in :mod:`astra.commands`, one module each. A module that defines ``NAME``
(the subcommand), ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int`` is
picked up automatically, so new subcommands plug in without touching this file. A module that
sets ``ACCEPTS_EXTRA = True`` receives arguments it did not declare in ``args._extra``.
"""

import argparse
import importlib
import pkgutil
import sys

from astra.version import __version__
import astra.commands

__all__ = ["main", "build_parser", "UsageError", "positive_int"]


class UsageError(Exception):
    """A command was given a bad argument; reported as one line on stderr, exit status 2."""


def positive_int(text):
    """An argparse ``type`` for counts that must be at least 1 (``--workers``, ``--limit``, ...).

    Zero would mean nothing to do (or, for a limit, nothing at all), which is never what was
    meant, so it is refused instead of running silently.

    :param text: the argument's text.
    :returns: the integer.
    :raises argparse.ArgumentTypeError: for text that is not a whole number of at least 1.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one clear line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _command_modules():
    modules = []
    for info in sorted(pkgutil.iter_modules(astra.commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"astra.commands.{info.name}")
        if all(hasattr(module, attr) for attr in ("NAME", "HELP", "add_arguments", "run")):
            modules.append(module)
    return modules


def build_parser():
    """The argument parser of ``astra`` with every subcommand attached."""
    parser = _Parser(prog="astra", description="Analyse SDSS stellar spectra at survey scale with Luigi.")
    parser.add_argument("--version", action="version", version=f"astra {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    for module in _command_modules():
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run, _module=module)
    return parser


def main(argv=None):
    """Run the ``astra`` command.

    :param argv: arguments (default ``sys.argv[1:]``).
    :returns: the exit status.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(getattr(args, "_module", None), "ACCEPTS_EXTRA", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args._extra = extra
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except UsageError as error:
        print(f"astra {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("astra: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a luigid that cannot be reached, a full disk: one line, not a traceback
        from astra.logfiles import disk_full

        lost = _unreachable_scheduler(error)
        if lost is not None:
            print(f"astra {args.command}: error: {lost}", file=sys.stderr)
        elif disk_full(error):
            print(f"astra {args.command}: error: {type(error).__name__}: {error} (No space left on device: free space, "
                  "then run again)", file=sys.stderr)
        else:
            raise
        return 1


def _unreachable_scheduler(error):
    """The :class:`~astra.cluster.scheduler.SchedulerUnreachable` that ``error`` is or stands
    for (Luigi's ``RPCError``), else ``None``."""
    from astra.cluster.scheduler import SchedulerUnreachable, unreachable

    if isinstance(error, SchedulerUnreachable):
        return error
    return unreachable(error) if "luigi.rpc" in sys.modules else None


if __name__ == "__main__":
    # ``python -m astra.cli``: run the imported module's main, so that the UsageError the
    # commands raise (astra.cli.UsageError) is the class caught, not __main__'s copy of it.
    from astra.cli import main as _main

    sys.exit(_main())
