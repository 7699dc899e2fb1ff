"""Reading a run's or a batch's log a piece at a time (what the live log panes poll)."""

import os

__all__ = ["read_log", "CHUNK"]

#: Most bytes one poll returns (a first poll shows the last ``CHUNK`` bytes).
CHUNK = 64 * 1024


def read_log(path, offset=-1, chunk=CHUNK):
    """The log text from byte ``offset`` on.

    :param path: the log file (``None`` or a missing file read as empty).
    :param offset: where the last read stopped; negative for "the last ``chunk`` bytes",
        starting at a line boundary.
    :param chunk: most bytes to return.
    :returns: ``{"text": ..., "offset": next offset, "size": file size}``; ``offset`` is
        where the next poll starts (it never goes past the last whole line).
    """
    if not path or not os.path.exists(path):
        return {"text": "", "offset": max(offset, 0), "size": 0}
    size = os.path.getsize(path)
    with open(path, "rb") as fp:
        if offset < 0 or offset > size:
            start = max(0, size - chunk)
            fp.seek(start)
            data = fp.read(chunk)
            if start > 0:  # begin at a line boundary
                newline = data.find(b"\n")
                start, data = (start + newline + 1, data[newline + 1 :]) if newline >= 0 else (size, b"")
        else:
            start = offset
            fp.seek(start)
            data = fp.read(chunk)
    end = data.rfind(b"\n")
    if end >= 0:
        data = data[: end + 1]  # a half-written line waits for the next poll
    elif len(data) < chunk:
        data = b""
    return {"text": data.decode("utf-8", "replace"), "offset": start + len(data), "size": size}
