"""What a result's provenance records, and the input-file facts of each row.

A :class:`MethodProvenance` describes one run of one method with one set of parameters: the
parameters (all of them, normalised), the code (Astra's version, the method's module, its
package and that package's version, the git commit of the checkout it lives in, a digest of
its module's source), a digest of each path parameter's file, the host and the run. It is made
once per sink (once per batch), never per row.

Each row also gets the facts of its own input file (:func:`input_facts`): its size and a CRC-32
of its bytes. By default (setting ``provenance_checksum: sampled``) the checksum covers the
first and last 16 KiB of the file (the primary header and the start of the first HDU, and the
end of the data; about 25 us): a full CRC-32 of a 380 kB apStar costs 90-190 us, 7-10% of
rocket's whole per-spectrum CPU, over the 5% budget (docs/benchmarks.md). ``full`` checksums
every byte; ``none`` records only the size.
"""

import functools
import hashlib
import importlib.metadata
import json
import os
import socket
import sys
import zlib

import astra.config
from astra.version import __version__

__all__ = ["MethodProvenance", "input_facts", "stamp_input", "parameters_digest", "code_facts", "path_digest",
           "CHECKSUMS", "SAMPLE_BYTES"]

#: The values of the ``provenance_checksum`` setting.
CHECKSUMS = ("sampled", "full", "none")

#: Bytes checksummed at each end of a file under ``provenance_checksum: sampled``.
SAMPLE_BYTES = 16384


def _plain(value, floats=True):
    """A JSON-ready value: tuples as lists, other objects as their text; with ``floats``, ints as
    floats (for digests: an int given to a float parameter is the same parameter)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value) if floats else value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _plain(value.item(), floats)
    if isinstance(value, (list, tuple)):
        return [_plain(v, floats) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, floats) for k, v in sorted(value.items())}
    return str(value)


def _digest(value):
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def parameters_digest(method, params):
    """The digest of a method's significant parameters: what makes a result out of date when
    it differs from the one its row was made with (docs/provenance.rst).

    :param method: the method's dotted name (``module.function`` or ``module.Class``).
    :param params: the method's parameters by name.
    """
    # "" and None both mean "not given": a signature default of "" reaches the Luigi task as None
    return _digest([method, {k: None if isinstance(v, str) and not v else _plain(v) for k, v in params.items()}])


def _read(path):
    try:
        with open(path) as fp:
            return fp.read().strip()
    except OSError:
        return None


def _resolve_ref(git_dir, ref):
    """The commit ``ref`` (``refs/heads/main``) names in ``git_dir`` (or its common directory)."""
    common = _read(os.path.join(git_dir, "commondir"))
    places = [git_dir] + ([os.path.normpath(os.path.join(git_dir, common))] if common else [])
    for place in places:
        found = _read(os.path.join(place, ref))
        if found:
            return found
        packed = _read(os.path.join(place, "packed-refs")) or ""
        for line in packed.splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    return None


@functools.lru_cache(maxsize=256)
def _git_commit(directory):
    """The commit checked out in the git work tree holding ``directory``, or ``None``.

    Read from the ``.git`` files (a worktree's ``.git`` file and common directory included),
    without starting ``git``: a run pays for this once per process.
    """
    probe = directory
    while not os.path.exists(os.path.join(probe, ".git")):
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent
    git_dir = os.path.join(probe, ".git")
    if os.path.isfile(git_dir):  # a worktree or submodule: "gitdir: <path>"
        text = _read(git_dir) or ""
        if not text.startswith("gitdir:"):
            return None
        git_dir = os.path.normpath(os.path.join(probe, text.split(":", 1)[1].strip()))
    head = _read(os.path.join(git_dir, "HEAD"))
    if not head:
        return None
    if head.startswith("ref:"):
        return _resolve_ref(git_dir, head.split(":", 1)[1].strip())
    return head


@functools.lru_cache(maxsize=1)
def _distributions():
    try:
        return importlib.metadata.packages_distributions()
    except Exception:  # a broken installed distribution must not stop a run
        return {}


@functools.lru_cache(maxsize=256)
def _file_digest(path, size, mtime):
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            h.update(block)
    return "blake2b:" + h.hexdigest()


def path_digest(path):
    """The digest of the file at ``path`` (cached by path, size and mtime), or ``None`` when
    ``path`` names no regular file.

    :param path: a file path.
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError, TypeError):
        return None
    if not os.path.isfile(path):
        return None
    return _file_digest(os.path.abspath(path), st.st_size, st.st_mtime_ns)


def _installed(path):
    """Whether the module file at ``path`` lies where installed distributions live."""
    if not path:
        return False
    parts = os.path.normpath(path).split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts


def _package_of(top):
    """``(package, version)`` of a top-level package: the distribution of that name, else the
    package's own ``__version__`` (named by its import name), and only then the map of every
    installed distribution (which costs about 0.1 s to build)."""
    try:
        return top, importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        pass
    module = sys.modules.get(top)
    own = getattr(module, "__version__", None)
    if own is not None:  # the import name stands for the distribution
        return top, own
    if not _installed(getattr(module, "__file__", None)):
        return top, None  # a script's or a checkout's module: no installed distribution has it
    package = (_distributions().get(top) or [top])[0]
    try:
        return package, importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return package, own


@functools.lru_cache(maxsize=256)
def code_facts(module_name):
    """The code of a method's module: its name, file digest, package, package version, git commit.

    :param module_name: a dotted module name (imported already).
    """
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    top = module_name.split(".")[0]
    package, version = _package_of(top)
    source = None
    if path and os.path.isfile(path):
        with open(path, "rb") as fp:
            source = "blake2b:" + hashlib.blake2b(fp.read(), digest_size=16).hexdigest()
    return {
        "module": module_name,
        "module_file": path,
        "module_digest": source,
        "package": package,
        "package_version": version,
        "git_commit": _git_commit(os.path.dirname(os.path.abspath(path))) if path else None,
        "astra_version": __version__,
    }


def _run_id():
    return os.environ.get("ASTRA_RUN_ID") or None


class MethodProvenance:
    """The provenance of one method run with one set of parameters (made once per batch).

    :param method: the method's dotted name (``module.function`` or ``module.Class``).
    :param module: the method's module name.
    :param params: the method's parameters, all of them, by name.
    :param kind: ``"task"`` (a ``@task`` generator) or ``"class"`` (a ``BaseTask``).
    """

    def __init__(self, method, module, params, kind="task"):
        self.method = method
        self.params = {k: _plain(v, floats=False) for k, v in sorted(params.items())}
        code = dict(code_facts(module))
        paths = {}
        for name, value in params.items():
            if isinstance(value, str) and value and (os.sep in value or "." in value):
                found = path_digest(value)
                if found is not None:
                    paths[name] = found
        self.params_digest = parameters_digest(method, params)
        self.code_digest = _digest([code["module_digest"], code["package_version"], code["git_commit"]])
        self.record = {
            "method": method,
            "kind": kind,
            "parameters": self.params,
            "path_digests": paths,
            "code": code,
            "host": socket.gethostname(),
            "run": _run_id(),
            "python": sys.version.split()[0],
        }
        self.digest = _digest(self.record)


def _facts(path, how):
    """``(size, checksum)`` with one open, one ``fstat`` and at most two reads."""
    if how == "none":
        return os.stat(path).st_size, None
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if how == "full" or size <= 2 * SAMPLE_BYTES:
            crc, offset = 0, 0
            while offset < size:
                block = os.pread(fd, min(1 << 22, size - offset), offset)
                if not block:
                    break
                crc = zlib.crc32(block, crc)
                offset += len(block)
            return size, crc
        return size, zlib.crc32(os.pread(fd, SAMPLE_BYTES, size - SAMPLE_BYTES),
                                zlib.crc32(os.pread(fd, SAMPLE_BYTES, 0)))
    finally:
        os.close(fd)


def checksum_setting():
    """The ``provenance_checksum`` setting: ``sampled`` (default), ``full`` or ``none``.

    :raises ValueError: for another value.
    """
    how = str(astra.config.get("provenance_checksum") or "sampled").strip().lower()
    if how not in CHECKSUMS:
        raise ValueError(f"the provenance_checksum setting is {how!r}; use one of {', '.join(CHECKSUMS)}")
    return how


def input_facts(path, how=None):
    """``(size, checksum)`` of the input file at ``path``; ``(None, None)`` when it cannot be read.

    :param path: the file.
    :param how: ``sampled``, ``full`` or ``none`` (default: the ``provenance_checksum`` setting).
    """
    try:
        return _facts(path, how or checksum_setting())
    except (OSError, TypeError, ValueError):
        return None, None


def stamp_input(result, path, how=None):
    """Give ``result`` the facts of its input file (``input_size``, ``input_checksum``).

    :param result: a result model instance (with the :class:`~astra.provenance.ProvenanceColumns`).
    :param path: the spectrum's file, or ``None`` (nothing is stamped).
    :param how: the checksum kind (default: the setting).
    """
    if isinstance(path, str):
        result.input_size, result.input_checksum = input_facts(path, how)
