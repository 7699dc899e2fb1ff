"""Task identity: a deterministic id and hash from a task's family and significant parameters.

The hash is a SHA-256 of canonical JSON (sorted keys, fixed separators) of the parameters'
serialised values, so it is the same in every process and on every machine, whatever
``PYTHONHASHSEED``, dictionary order or object ids are.
"""

import hashlib
import json
import re
from json.encoder import encode_basestring_ascii as _encode_text

#: Hex digits of the hash kept in ids and paths (64 bits: no collisions among billions).
HASH_LENGTH = 16
#: How many leading parameter values appear in a task id, and how many characters of each.
SUMMARY_PARAMS = 3
SUMMARY_LENGTH = 16

_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_INVALID = re.compile(r"[^A-Za-z0-9.+-]+")


def identity_hash(family, str_params):
    """The hash of a task's identity.

    :param family: the task family (``namespace.ClassName``).
    :param str_params: mapping of significant parameter name to its serialised (text) value.
    :returns: ``HASH_LENGTH`` lowercase hexadecimal digits.
    """
    text = _ENCODER.encode([family, str_params])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


class MemberHasher:
    """:func:`identity_hash` for the members of one batch, the shared text encoded once.

    The members of a batch differ only in their batch keys; the canonical JSON of everything
    else is the same for all of them. The hasher keeps that JSON in pieces, in sorted key
    order, and per member only encodes the member's own values between them: the same bytes
    as :func:`identity_hash`, several times faster.

    :param family: the task family.
    :param shared: text values of the significant parameters all members share.
    :param member_names: names of the parameters whose text differs between members.
    """

    def __init__(self, family, shared, member_names):
        member_names = list(member_names)
        slot_of = {name: i for i, name in enumerate(member_names)}
        pieces, slots = [], []
        current = "[" + _encode_text(family) + ",{"
        for i, name in enumerate(sorted(set(shared) | set(member_names))):
            current += ("," if i else "") + _encode_text(name) + ":"
            if name in slot_of:
                pieces.append(current)
                slots.append(slot_of[name])
                current = ""
            else:
                current += _encode_text(shared[name])
        self._pieces = list(zip(pieces, slots))
        self._tail = current + "}]"

    def __call__(self, texts):
        """The identity hash of the member whose batch keys have these text values.

        :param texts: the members' text values, in the order of ``member_names``; none is ``None``.
        """
        parts = []
        for piece, slot in self._pieces:
            parts.append(piece)
            parts.append(_encode_text(texts[slot]))
        parts.append(self._tail)
        return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()[:HASH_LENGTH]


def _summary_value(text):
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            values = None
        if isinstance(values, list) and values:
            return f"{values[0]}+{len(values) - 1}"
    return text


def task_id(family, str_params, summary_names, digest=None):
    """A short, readable task id: family, a few leading parameter values, and the hash.

    :param family: the task family.
    :param str_params: mapping of significant parameter name to serialised value.
    :param summary_names: parameter names (in order) whose values may appear in the id.
    :param digest: the precomputed :func:`identity_hash`, if known.
    :returns: e.g. ``rocket.EstimateSNR_dr13_r6_2M0045+1634_1a2b3c4d5e6f7a8b``.
    """
    digest = digest or identity_hash(family, str_params)
    parts = [_summary_value(str_params[n])[:SUMMARY_LENGTH] for n in [m for m in summary_names if m in str_params][:SUMMARY_PARAMS]]
    summary = "_".join(p for p in (_INVALID.sub("_", part).strip("_") for part in parts) if p)
    return f"{family}_{summary}_{digest}" if summary else f"{family}_{digest}"
