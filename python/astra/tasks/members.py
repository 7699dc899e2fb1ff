"""A batch's members as rows or as columns: the one conversion between the two.

A batch keeps its per-spectrum values as columns: each batch key is a tuple with one value per
member, or a plain value shared by every member (it broadcasts). Code that needs the members
one by one (grouping, paths, key tables) turns the columns into rows, and grouping turns rows
back into columns. Both directions live here.
"""

from astra.parameters import is_batch_value

__all__ = ["column", "rows", "from_rows"]


def column(value, size):
    """One value per member: a batch value as a tuple, a shared value repeated ``size`` times.

    :param value: a parameter value (a tuple for a batch key that varies).
    :param size: the number of members.
    :returns: a tuple of ``size`` values.
    """
    return tuple(value) if is_batch_value(value) else (value,) * size


def rows(values, names, size):
    """The members' values of ``names``, one tuple per member, in member order.

    :param values: parameter values by name (``task.param_kwargs``).
    :param names: the parameters wanted, in the order of each tuple.
    :param size: the number of members.
    :returns: a list of tuples.
    """
    return list(zip(*(column(values.get(name), size) for name in names))) if names else [()] * size


def from_rows(names, member_rows):
    """Columns for a batch from rows of values; a column whose values are all equal is given as
    that value (it broadcasts), so it reads the same as the single-spectrum task's.

    :param names: the parameter of each position in a row.
    :param member_rows: a non-empty sequence of tuples, one per member.
    :returns: a dict of name to a value or a tuple of values.
    """
    out = {}
    for name, values in zip(names, zip(*member_rows)):
        first = values[0]
        out[name] = first if values.count(first) == len(values) else values  # count: in C
    return out
