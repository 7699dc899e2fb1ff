"""Sphinx directives that generate reference pages from the code, so no copy is kept by hand.

``.. astra-commands::`` renders the ``--help`` of ``astra`` and of each subcommand from the
argparse parsers of :mod:`astra.cli`; ``.. astra-tasks::`` lists the task classes that ship
with Astra (every :class:`luigi.Task` subclass defined in the listed modules) with the first
line of each docstring.
"""

import importlib
import inspect

import luigi
from docutils import nodes
from docutils.parsers.rst import Directive

#: Modules whose task classes are listed by ``astra-tasks`` (what ships with Astra).
TASK_MODULES = (
    "astra.contrib.rocket",
    "astra.contrib.continuum",
    "astra.contrib.thecannon",
    "astra.tasks.io",
    "astra.tasks.continuum",
)


def _section(title, ids):
    section = nodes.section(ids=[ids])
    section += nodes.title(text=title)
    return section


class AstraCommands(Directive):
    """The help of ``astra`` and every subcommand, from the parsers."""

    def run(self):
        from astra.cli import build_parser

        parser = build_parser()
        out = [nodes.literal_block(text=parser.format_help())]
        subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        for name, sub in sorted(subparsers.choices.items()):
            section = _section(f"astra {name}", f"astra-{name}")
            section += nodes.literal_block(text=sub.format_help())
            out.append(section)
        return out


class AstraTasks(Directive):
    """A table of the task classes shipped with Astra."""

    def run(self):
        rows = []
        for module_name in TASK_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for name, value in sorted(vars(module).items()):
                if (inspect.isclass(value) and issubclass(value, luigi.Task) and not name.startswith("_")
                        and value.__module__.startswith(module_name)):
                    doc = (inspect.getdoc(value) or "").split("\n\n")[0].replace("\n", " ")
                    if doc.startswith(f"{name} was removed:"):  # astra.tasks.removed placeholders
                        continue
                    rows.append((f"{module_name}.{name}", value.get_task_family(), doc))
        table = nodes.table()
        group = nodes.tgroup(cols=3)
        table += group
        for width in (30, 15, 55):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        body = nodes.tbody()
        group += body
        for cells, parent in [(("class (astra run)", "family (luigi)", "what it does"), head)] + [(r, body) for r in rows]:
            row = nodes.row()
            for i, text in enumerate(cells):
                paragraph = nodes.paragraph()
                paragraph += nodes.literal(text=text) if i < 2 and parent is body else nodes.Text(text)
                entry = nodes.entry()
                entry += paragraph
                row += entry
            parent += row
        return [table]


def setup(app):
    """Register the directives."""
    app.add_directive("astra-commands", AstraCommands)
    app.add_directive("astra-tasks", AstraTasks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
