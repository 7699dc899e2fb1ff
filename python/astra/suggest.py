"""Did-you-mean suggestions for mistyped names (species, tasks, modules, parameters)."""

import difflib

__all__ = ["did_you_mean", "closest"]


def closest(name, choices):
    """The choice most like ``name``, or ``None`` when none is close.

    Case is ignored first (``apstar`` finds ``apStar``), then :func:`difflib.get_close_matches`
    picks the nearest spelling.

    :param name: what was written.
    :param choices: the names that exist.
    :returns: one of ``choices``, or ``None``.
    """
    choices = [str(choice) for choice in choices]
    folded = {choice.lower(): choice for choice in choices}
    if str(name).lower() in folded:
        return folded[str(name).lower()]
    matches = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    if not matches:  # a case-only slip plus a typo: compare folded spellings
        matches = [folded[m] for m in difflib.get_close_matches(str(name).lower(), list(folded), n=1, cutoff=0.6)]
    return matches[0] if matches else None


def did_you_mean(name, choices):
    """A message suffix ``" (did you mean 'X'?)"``, or ``""`` when no choice is close.

    :param name: what was written.
    :param choices: the names that exist.
    :returns: the text to append to an error message.
    """
    match = closest(name, choices)
    return f" (did you mean {match!r}?)" if match is not None and match != name else ""
