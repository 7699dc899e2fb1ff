"""How ``astra web`` shows docstrings, results columns and their values.

* :func:`rst_inline` turns the inline reST of docstrings and parameter descriptions
  (````code````, ``:class:`~a.b.C```) into HTML instead of showing the backticks;
* :func:`ordered_columns` puts a results model's own (science) columns first, then the
  spectrum's keys, then the bookkeeping every results row has (``task_pk``, ``v_astra``,
  ``spectrum_mtime``, ...);
* :func:`cell` formats one value: times given in seconds since 1970 (``spectrum_mtime``) as
  UTC dates, floats to six significant digits.
"""

import datetime
import re

from markupsafe import Markup, escape

__all__ = ["rst_inline", "ordered_columns", "cell", "TIME_COLUMNS"]

#: Columns holding a time as seconds since 1970.
TIME_COLUMNS = ("spectrum_mtime", "file_mtime")
_ROLE = re.compile(r":[\w:]+:`~?([^`<]*?)(?:\s*<([^>]+)>)?`")
_LITERAL = re.compile(r"``(.+?)``")
_INTERPRETED = re.compile(r"(?<![\w`])`([^`]+)`(?![\w`])")


def rst_inline(text):
    """Inline reST of a docstring as safe HTML: ````x````, ``:role:`x``` and ```x``` become
    ``<code>x</code>`` (a role's ``~a.b.C`` shows ``C``); everything else is escaped.

    :param text: the text (``None`` is empty).
    :returns: :class:`markupsafe.Markup`.
    """
    html = str(escape(text or ""))

    def role(match):
        shown = (match.group(1) or match.group(2) or "").strip()
        if match.group(0).split("`", 1)[1].startswith("~"):
            shown = shown.rsplit(".", 1)[-1]
        return f"<code>{shown}</code>"

    html = _ROLE.sub(role, html)
    html = _LITERAL.sub(lambda m: f"<code>{m.group(1)}</code>", html)
    html = _INTERPRETED.sub(lambda m: f"<code>{m.group(1)}</code>", html)
    return Markup(html)


def _bookkeeping(model):
    """The columns ``model`` has from its schema root (every results row has them)."""
    for base in model.__mro__[1:]:
        if base.__dict__.get("__schema_root__") or base.__name__ in ("PipelineOutputMixin", "BaseResult"):
            meta = getattr(base, "_meta", None)
            if meta is not None:
                return set(meta.fields)
    return set()


def ordered_columns(model, keys, hidden=("parameters",)):
    """The columns of a results table in the order to show them.

    :param model: the results model.
    :param keys: its key columns (data-model keys, ``spectrum_pk``, ``source_pk``, ...).
    :param hidden: columns not shown.
    :returns: the model's own columns, then ``keys``, then the bookkeeping columns.
    """
    names = [f.name for f in model._meta.sorted_fields if f.name not in hidden]
    common = _bookkeeping(model)
    own = [n for n in names if n not in common and n not in keys]
    return own + [n for n in keys if n in names] + [n for n in names if n in common and n not in keys]


def cell(name, value):
    """One value as the results table shows it.

    :param name: the column.
    :param value: the value.
    """
    if value is None:
        return ""
    if name in TIME_COLUMNS and isinstance(value, (int, float)):
        moment = datetime.datetime.fromtimestamp(float(value), tz=datetime.timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
