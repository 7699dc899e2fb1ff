"""Resolve SDSS data-model paths from sdss-access templates, cheaply and per release.

sdss-access's :class:`~sdss_access.path.Path` keeps global state: constructing one replants a
process-wide tree and writes that release's environment variables (``$APOGEE_REDUX``, ...) into
:data:`os.environ`, and ``Path.full()`` expands templates from :data:`os.environ` at call time.
So after ``Path(release="dr17")`` an older ``Path(release="dr16")`` object returns dr17 paths,
and every ``Path()`` costs about 10 ms.

This module talks to sdss-access once per release. It snapshots :data:`os.environ`, sets
``SAS_BASE_DIR`` to a private placeholder directory, constructs ``Path(release=...)``, copies
that release's templates and environment, and restores :data:`os.environ` exactly. Each
``(release, species)`` template is then compiled once into a :class:`Template`: environment
variables expanded from *that release's* captured environment, the SAS root left as a
placeholder, special functions (``@healpixgrp|``, ``@apgprefix|``, ``@spectrodir|``, ...) bound
to fast implementations (:mod:`astra.datamodels.special`) or, for the rare others, to the one
``Path`` object kept for that release. Resolving a path is then one :meth:`str.format_map` and
a prefix replacement: no ``Path`` object per call, and no release leaks into another.

Differences from ``Path.full()``: a ``None`` key counts as missing; ``component`` (a key with
a default in its special function) may be omitted; the file system is not consulted (sdss-access
swaps in a ``.gz`` name when only the compressed file exists on disk; we never do).
"""

import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading

from astra.suggest import did_you_mean
from astra.datamodels.special import OPTIONAL_KEYS, SPECIAL_FUNCTIONS

__all__ = [
    "Template",
    "MissingKeyError",
    "UnknownReleaseError",
    "UnknownSpeciesError",
    "OutsideSASError",
    "canonical_release",
    "known_releases",
    "releases_for",
    "get_template",
    "template_keys",
    "full_path",
    "relative_path",
    "sas_root",
    "sas_base_dir_set",
]

_ENVVAR = re.compile(r"\$(\w+|\{[^}]*\})")
_SPECIAL = re.compile(r"@(\w+)[|]")
_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)")
_TAGS = re.compile(r"tags/(v?[0-9._]+)")

_lock = threading.RLock()
_releases = {}
_templates = {}
_known = None


class MissingKeyError(ValueError):
    """A key the release's template needs was not given (or is ``None``)."""


class UnknownReleaseError(ValueError):
    """sdss-access does not know the release."""


class UnknownSpeciesError(ValueError):
    """The release has no template for the file species."""


class OutsideSASError(ValueError):
    """Key values resolved to a path outside the SAS root (refused: defence in depth)."""


def _inside(path, root):
    """Whether the normalised ``path`` is ``root`` or below it."""
    root = os.path.normpath(root)
    if root == os.sep:
        return path.startswith(os.sep)
    return path == root or path.startswith(root + os.sep)


def sas_root(sas_base_dir=None):
    """The root of the local SAS mirror.

    :param sas_base_dir: an explicit root; wins when given.
    :returns: ``sas_base_dir``, else ``$SAS_BASE_DIR``, else ``~/sas`` (as sdss-access).
    """
    return sas_base_dir or os.environ.get("SAS_BASE_DIR") or os.path.expanduser("~/sas")


@contextlib.contextmanager
def _isolated_environment():
    """Yield ``sdss_access.path``; every change to :data:`os.environ` inside is undone.

    ``SAS_BASE_DIR`` points at an empty placeholder directory inside the block: sdss-access
    (its ``tree`` package) creates a ``SAS_BASE_DIR`` that does not exist, and fails with a
    traceback on one that is a file. Astra's paths never take the root from sdss-access, so
    the user's root is left alone (``astra run`` says when it does not exist or is a file).
    """
    saved = dict(os.environ)
    placeholder = tempfile.mkdtemp(prefix="astra-sas-root-")
    os.environ["SAS_BASE_DIR"] = placeholder
    try:
        import sdss_access.path  # its import plants a tree into os.environ too

        _plain_error_output()
        yield sdss_access.path
    finally:
        shutil.rmtree(placeholder, ignore_errors=True)
        for name in [n for n in os.environ if n not in saved]:
            del os.environ[name]
        for name, value in saved.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


def _plain_error_output():
    """Undo what importing sdss-access does to the process's error output (idempotent).

    Its loggers (``sdsstools``) replace :data:`sys.excepthook` with one that prints coloured
    tracebacks, send Python warnings through their coloured handler, and colour every message,
    terminal or not: Slurm logs and pipes would get ANSI escape codes. Python's own exception
    hook and warnings come back; the loggers keep their colours only on a terminal.
    """
    import logging

    loggers = [getattr(sys.modules.get(name), "log", None) for name in ("sdss_access", "tree")]
    loggers = [log for log in loggers if isinstance(log, logging.Logger)]
    if getattr(sys.excepthook, "__self__", None) in loggers:
        sys.excepthook = sys.__excepthook__
    theirs = {id(handler) for log in loggers for handler in log.handlers}
    warnings_logger = logging.getLogger("py.warnings")
    if warnings_logger.handlers and all(id(h) in theirs for h in warnings_logger.handlers):
        warnings_logger.handlers.clear()
        logging.captureWarnings(False)  # captured only for their handler
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        plain = logging.Formatter("[%(levelname)s]: %(message)s")
        for log in loggers:
            for handler in log.handlers:
                handler.setFormatter(plain)


def known_releases():
    """The releases sdss-access knows, in its canonical (lower-case) spelling.

    :returns: a list such as ``["dr7", ..., "ipl3", ..., "dr17", ..., "sdsswork"]``.
    """
    global _known
    if _known is None:
        with _lock, _isolated_environment() as module:
            names = module.Path.get_available_releases()
        _known = [_alias(name) for name in names]
    return list(_known)


def _alias(release):
    name = str(release).strip().lower().replace("-", "")
    return "sdsswork" if name == "work" else name


def canonical_release(release):
    """sdss-access's spelling of a release: ``"DR16"`` -> ``"dr16"``, ``"IPL-3"`` -> ``"ipl3"``.

    :param release: a release name in any case, with or without a dash.
    :raises UnknownReleaseError: when sdss-access does not know it (sdss-access itself would
        silently fall back to another release).
    """
    name = _alias(release)
    if name not in known_releases():
        raise UnknownReleaseError(f"unknown SDSS release {release!r}; sdss-access knows: {', '.join(known_releases())}")
    return name


class _Release:
    """One release's templates, environment and cached ``Path`` object, captured once."""

    def __init__(self, name):
        self.name = name
        placeholder = tempfile.mkdtemp(prefix="astra-sas-root-")
        try:
            with _isolated_environment() as module:
                os.environ["SAS_BASE_DIR"] = placeholder
                self.path = module.Path(release=name)
                self.templates = dict(self.path.templates)
                self.environment = dict(os.environ)
        finally:
            shutil.rmtree(placeholder, ignore_errors=True)
        self.placeholder = placeholder


def _release(name):
    info = _releases.get(name)
    if info is None:
        with _lock:
            info = _releases.get(name)
            if info is None:
                info = _releases[name] = _Release(name)
    return info


def releases_for(species):
    """The releases whose sdss-access tree has a template for ``species``.

    :param species: a file species, e.g. ``"apStar"``.
    :returns: a list of canonical release names in sdss-access's order.
    """
    return [name for name in known_releases() if species in _release(name).templates]


def _expand(text, environment):
    """Expand ``$VAR`` from ``environment`` like sdss-access (braces escaped for format)."""

    def replace(match):
        name = match.group(1).strip("{}")
        if name not in environment:
            return match.group(0)
        return environment[name].replace("{", "{{").replace("}", "}}")

    expanded = _ENVVAR.sub(replace, text)
    first = expanded.split("/", 1)[0]
    if expanded.startswith("$") and first[1:] in environment and expanded != text:
        return _expand(expanded, environment)
    return expanded


class Template:
    """One release's path template for one species, compiled for fast formatting.

    Get one with :func:`get_template`; do not construct it yourself.

    :ivar release: the canonical release.
    :ivar species: the file species.
    :ivar raw: sdss-access's template text.
    :ivar keys: the keys the template needs, in order of appearance.
    """

    def __init__(self, info, species):
        self.release = info.name
        self.species = species
        self.raw = info.templates[species]
        self.keys = _template_keys(info, species)
        self.required = tuple(k for k in self.keys if k not in OPTIONAL_KEYS)
        self._placeholder = info.placeholder
        self._specials = []
        expanded = _expand(self.raw, info.environment)
        for name in dict.fromkeys(_SPECIAL.findall(expanded)):
            field = f"__astra_special_{name}"
            expanded = expanded.replace(f"@{name}|", "{" + field + "}")
            self._specials.append((field, self._special(info, name)))
        self._format = expanded.format_map

    def _special(self, info, name):
        if name == "spectrodir":
            environment = info.environment

            def spectrodir(species, keys):
                variable = "SPECTRO_REDUX" if str(keys["run2d"]) in ("26", "103", "104") else "BOSS_SPECTRO_REDUX"
                return environment[variable]

            return spectrodir
        if name in SPECIAL_FUNCTIONS:
            return SPECIAL_FUNCTIONS[name]
        method = getattr(info.path, name, None)
        if method is None:
            raise UnknownSpeciesError(f"{self.species} in {self.release}: unknown sdss-access function @{name}|")
        return lambda species, keys: method(species, **keys)

    def check(self, keys):
        """Raise :class:`MissingKeyError` if a needed key is missing or ``None``.

        :param keys: mapping of key to value.
        """
        for key in self.required:
            if keys.get(key) is None:
                raise MissingKeyError(
                    f"release {self.release} needs {key!r} for {self.species} (keys: {', '.join(self.keys)})"
                )

    def _text(self, keys):
        self.check(keys)
        if self._specials:
            keys = dict(keys)
            for field, function in self._specials:
                keys[field] = function(self.species, keys)
        return self._format(keys)

    def full(self, keys, sas_base_dir=None):
        """The full local path for ``keys``.

        :param keys: mapping of template key to value.
        :param sas_base_dir: the SAS root; default :func:`sas_root`.
        """
        text = self._text(keys)
        root = None
        if text.startswith(self._placeholder):
            root = sas_root(sas_base_dir)
            text = root + text[len(self._placeholder) :]
        if "tags/" in text:
            text = _TAGS.sub(r"\1", text, count=1)
        path = os.path.normpath(text)
        if root is not None and not _inside(path, root):
            self._outside(keys, path, root)
        return path

    def _outside(self, keys, path, root):

        shown = ", ".join(f"{k}={keys.get(k)!r}" for k in self.keys if keys.get(k) is not None)
        raise OutsideSASError(
            f"{self.species} in {self.release}: the keys ({shown}) give {path!r}, "
            f"outside the SAS root {root}; refused"
        )

    def relative(self, keys):
        """The path relative to the SAS root (the part after ``.../sas/`` in a SAS URL).

        :param keys: mapping of template key to value.
        :raises ValueError: when the template does not live under the SAS root.
        """
        text = self._text(keys)
        if not text.startswith(self._placeholder):
            raise ValueError(f"{self.species} in {self.release} is not under the SAS root: {text}")
        relative = os.path.normpath(text[len(self._placeholder) :].lstrip("/"))
        if relative == ".." or relative.startswith(".." + os.sep) or os.path.isabs(relative):
            self._outside(keys, relative, "(the SAS URL)")
        return relative

    def __repr__(self):
        return f"Template({self.release!r}, {self.species!r}, {self.raw!r})"


def _template_keys(info, species):
    raw = info.templates[species]
    ordered = list(dict.fromkeys(_FIELD.findall(raw)))
    extra = sorted(set(info.path.lookup_keys(species)) - set(ordered))
    return ordered + extra


def get_template(release, species):
    """The compiled :class:`Template` of ``species`` in ``release`` (cached).

    :param release: a release name (any spelling :func:`canonical_release` accepts).
    :param species: a file species, e.g. ``"apStar"``.
    :raises UnknownReleaseError: for a release sdss-access does not know.
    :raises UnknownSpeciesError: when the release has no template for the species.
    """
    cache_key = (release, species)
    template = _templates.get(cache_key)
    if template is not None:
        return template
    with _lock:
        name = canonical_release(release)
        template = _templates.get((name, species))
        if template is None:
            info = _release(name)
            if species not in info.templates:
                having = ", ".join(releases_for(species))
                hint = f" (releases with {species}: {having})" if having else did_you_mean(species, info.templates)
                raise UnknownSpeciesError(f"release {name} has no {species} template{hint}")
            template = Template(info, species)
            _templates[(name, species)] = template
        _templates[cache_key] = template
    return template


def template_keys(release, species):
    """The keys that the template of ``species`` in ``release`` needs.

    :param release: a release name.
    :param species: a file species.
    :returns: a list of key names in order of appearance in the template.
    """
    return list(get_template(release, species).keys)


def full_path(release, species, sas_base_dir=None, **keys):
    """The full local path of an SDSS file, as ``Path(release=release).full(species, **keys)``.

    :param release: a release name, e.g. ``"dr16"``.
    :param species: a file species, e.g. ``"apStar"``.
    :param sas_base_dir: the SAS root; default ``$SAS_BASE_DIR``, else ``~/sas``.
    :param keys: the template keys.
    :raises MissingKeyError: naming the first missing key.
    """
    return get_template(release, species).full(keys, sas_base_dir)


def relative_path(release, species, **keys):
    """The path of an SDSS file relative to the SAS root, e.g. ``dr16/apogee/spectro/...``.

    :param release: a release name.
    :param species: a file species.
    :param keys: the template keys.
    """
    return get_template(release, species).relative(keys)


@contextlib.contextmanager
def sas_base_dir_set(path):
    """Set ``SAS_BASE_DIR`` to ``path`` (if given) for the block, then put back what it was.

    Data-model tasks, here and in Luigi's forked workers, resolve their paths from it.

    :param path: the SAS root, or ``None`` to leave ``SAS_BASE_DIR`` as it is.
    """
    previous = os.environ.get("SAS_BASE_DIR")
    if path:
        os.environ["SAS_BASE_DIR"] = os.path.abspath(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SAS_BASE_DIR", None)
        else:
            os.environ["SAS_BASE_DIR"] = previous
