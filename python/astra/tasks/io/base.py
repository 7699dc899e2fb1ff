"""SDSSDataModelTask: a task that stands for SDSS data-model files (one, or a batch).

A data-model task has no analysis of its own. Its parameters are ``release`` and the keys of
the sdss-access template of its file species (``sdss_data_model_name``); the task is complete
when the file exists at the local path (under ``$SAS_BASE_DIR``) and is not empty. Keys differ
between releases (dr13 apVisit has no ``field``; dr16 has ``field`` and ``prefix``), so a
class declares the union of its species' keys over all releases, each defaulting to ``None``.

Checks happen at construction: an unknown release, a release without the species, or a key
the release's template needs but that is missing (``None``, or ``None`` for some member of a
batch) raise :class:`ValueError` naming the class, the key, the species and the release.
``prefix``, when the template needs it and it is not given, is derived from ``telescope``
(``apo25m``/``apo1m`` -> ``ap``, ``lco25m`` -> ``as``), so both spellings are one task.

Identity: keys whose value is ``None`` are left out of the task's identity, so keys that do not
apply to a release never change it (nor will keys added for future releases).

When the file is missing, the task is a missing external dependency for Luigi, unless
``use_remote`` is true: then its ``run()`` downloads the missing files from the SAS (see
:mod:`astra.tasks.io.download`).
"""

import logging
import os

import luigi

from astra import datamodels
from astra.parameters import BoolParameter, IntParameter, Parameter, ParameterTypeError, is_batch_value, transparent, trusted
from astra.targets import AtomicFileTarget
from astra.tasks import members
from astra.tasks.base import BaseTask
from astra.tasks.inputs import EMPTY, MISSING, InputFileError, input_file_problem
from astra.tasks.io import download as _download
from astra.datamodels.paths import MissingKeyError, UnknownReleaseError, canonical_release, get_template, sas_root
from astra.datamodels.special import apgprefix

__all__ = ["SDSSDataModelTask", "KeyParameter", "IntKeyParameter", "ReleaseParameter", "key", "supported_file_task"]

logger = logging.getLogger("astra")


class _OptionalKeyMixin:
    """``None`` (written as an empty string) is a valid value: the key does not apply.

    A text value that could make a path leave ``SAS_BASE_DIR`` (``/``, ``..``, NUL, newline,
    other control characters) is refused (:func:`astra.datamodels.check_key_value`); the task
    reports it naming itself and the key, with the value escaped.
    """

    @trusted  # a value of the key's plain type comes out unchanged (once checked)
    def normalize(self, x):
        """Canonical value; a batch whose members are all ``None`` is ``None``."""
        value = super().normalize(x)
        if is_batch_value(value) and all(v is None for v in value):
            return None
        return value

    #: What task construction checks a value of the plain type with instead of normalising it.
    _plain_check = staticmethod(datamodels.check_key_value)

    @transparent  # None handling and _plain_check added to the wrapped key type
    def _normalize_one(self, x):
        if x is None or (isinstance(x, str) and x == ""):
            return None
        return datamodels.check_key_value(super()._normalize_one(x))

    @transparent
    def _serialize_one(self, x):
        return "" if x is None else super()._serialize_one(x)

    def _parse_one(self, x):
        return None if x is None or x == "" else super()._parse_one(x)


class KeyParameter(_OptionalKeyMixin, Parameter):
    """A text data-model key; ``None`` (default) when it does not apply to a release.

    Declare it with ``batch_method=tuple`` so that it holds one value per batch member.
    """

    #: The Python type of the key's values (the catalogue makes a text column for it).
    key_type = str


class IntKeyParameter(_OptionalKeyMixin, IntParameter):
    """An integer data-model key (``plate``, ``mjd``, ``fiber``, ``healpix``, ...); may be ``None``."""

    #: The Python type of the key's values (the catalogue makes an integer column for it).
    key_type = int

    def next_in_enumeration(self, value):
        """The next integer, for Luigi's summaries; ``None`` for a batch or no value."""
        return None if value is None or is_batch_value(value) else value + 1


class ReleaseParameter(Parameter):
    """An SDSS release in sdss-access's spelling: ``"DR16"`` and ``"dr16"`` are one task.

    Release is not a batch key: one batch has one release. A tuple of one release repeated
    (seed 003 writes ``release=("dr16", "dr16")``) is that release.
    """

    #: Spellings seen so far and their canonical release (a survey names a handful).
    _seen = {}

    def _normalize_one(self, x):
        if x is None:
            return None
        seen = self._seen.get(x) if type(x) is str else None
        if seen is not None:
            return seen
        try:
            name = canonical_release(x)
        except UnknownReleaseError as error:
            raise ParameterTypeError(str(error)) from None
        if type(x) is str and len(self._seen) < 1000:
            self._seen[x] = name
        return name


def key(description, kind=str):
    """A data-model key parameter: default ``None``, ``batch_method=tuple``.

    :param description: help text.
    :param kind: ``str`` or ``int``.
    """
    cls = IntKeyParameter if kind is int else KeyParameter
    return cls(default=None, batch_method=tuple, description=description)


def _is_missing(value):
    return value is None or (is_batch_value(value) and any(v is None for v in value))


#: Keys that name a spectrum best in a task id (release, then the first identifying keys set);
#: tasks that analyse spectra use them as their ``task_id_parameters`` too.
SPECTRUM_ID_PARAMETERS = (
    "release", "obj", "sdss_id", "plate", "plateid", "mjd", "fiber", "fiberid", "field", "healpix",
)


def fill_prefix(values, template):
    """Derive a missing ``prefix`` (``ap``/``as``) from ``telescope``, member by member.

    Only where the template of the release uses ``prefix``: the same spectrum named with or
    without its prefix is then one task (one identity, one output).

    :param values: parameter values by name (changed in place).
    :param template: the release's :class:`~astra.datamodels.paths.Template` of the species.
    """
    if "prefix" not in template.keys or "prefix" not in values:
        return
    prefix, telescope = values.get("prefix"), values.get("telescope")
    if telescope is None or (prefix is not None and not _is_missing(prefix)):
        return
    size = max(len(v) for v in (prefix, telescope) if is_batch_value(v)) if any(
        is_batch_value(v) for v in (prefix, telescope)
    ) else 1

    filled = tuple(
        p if p is not None else (apgprefix(template.species, {"telescope": t}) if t is not None else None)
        for p, t in zip(members.column(prefix, size), members.column(telescope, size))
    )
    values["prefix"] = filled[0] if size == 1 else filled


def supported_file_task(family, species, supported):
    """The file task of data model ``species``, if it is one of those a task reads.

    :param family: the task family, for messages.
    :param species: a data-model name (any case).
    :param supported: a mapping of data-model name to file task
        (:func:`astra.datamodels.file_tasks`).
    :raises ValueError: naming the task, what it was given and what it reads.
    """
    try:
        name = datamodels.get(species).name
    except ValueError as error:
        raise ValueError(f"{family}: {error}") from None
    if name not in supported:
        raise ValueError(f"{family} does not read {name} files; it reads {', '.join(supported)}")
    return supported[name]


class SpectrumKeysMixin:
    """For analysis tasks that carry a spectrum's data-model keys (``@astra.inherits(ApStarFile)``).

    Completes the keys as the data-model task itself does (``prefix`` from ``telescope``), so an
    analysis task named with or without ``prefix`` is the same task. The species is the task's
    ``species`` parameter, or :attr:`spectrum_species`.
    """

    #: The species when the task has no ``species`` parameter.
    spectrum_species = "apStar"

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        """Resolve parameters, then derive ``prefix`` where the release's template uses it."""
        values = super().get_param_values(params, args, kwargs)
        by_name = dict(values)
        release, species = by_name.get("release"), by_name.get("species") or cls.spectrum_species
        if release is None or is_batch_value(release) or "prefix" not in by_name:
            return values
        try:
            template = get_template(release, datamodels.get(species).name)
        except ValueError:
            return values  # the data-model task reports an unknown release or species
        fill_prefix(by_name, template)
        return [(name, by_name[name]) for name, _ in values]


class SDSSDataModelTask(BaseTask):
    """Base class of the tasks that stand for SDSS data-model files.

    Subclasses set :attr:`sdss_data_model_name` and declare every key their species uses in any
    release with :func:`key`. They need nothing else.
    """

    #: The sdss-access file species, e.g. ``"apStar"``.
    sdss_data_model_name = None

    #: A batch checks its members' files itself, one by one (:meth:`ensure_available`): a
    #: missing file fails only its spectrum instead of keeping Luigi from running the batch.
    checked_per_spectrum = True

    task_id_parameters = SPECTRUM_ID_PARAMETERS

    release = ReleaseParameter(description="SDSS data release, e.g. dr16 (any case)")
    use_remote = BoolParameter(
        default=False,
        significant=False,
        description="download a missing file from the SAS (setting sas_url) in this task's run()",
    )

    @classmethod
    def data_model_keys(cls):
        """Names of this class's data-model key parameters, in declaration order."""
        return [n for n, p in cls.get_params() if isinstance(p, _OptionalKeyMixin)]

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        """Resolve parameters, derive ``prefix`` and check the release's template keys."""
        values = super().get_param_values(params, args, kwargs)
        if cls.sdss_data_model_name is None:
            return values
        by_name = dict(values)
        by_name = cls._complete_keys(by_name)
        return [(name, by_name[name]) for name, _ in values]

    @classmethod
    def _complete_keys(cls, values):
        family = cls.get_task_family()
        species = cls.sdss_data_model_name
        try:
            template = get_template(values["release"], species)
        except ValueError as error:
            raise ValueError(f"{family}: {error}") from None
        declared = set(cls.data_model_keys())
        undeclared = [k for k in template.keys if k not in declared]
        if undeclared:
            raise ValueError(f"{family} does not declare {undeclared} needed by {species} in {template.release}")
        fill_prefix(values, template)
        for name in template.required:
            if _is_missing(values.get(name)):
                raise MissingKeyError(
                    f"{family}: release {template.release} needs {name!r} for {species} (keys: {', '.join(template.keys)})"
                )
        return values

    # ------------------------------------------------------------------ paths

    @property
    def template(self):
        """The compiled sdss-access :class:`~astra.datamodels.paths.Template` of this task."""
        return get_template(self.release, self.sdss_data_model_name)

    def _key_rows(self):
        """One dict of template keys per member, built from the tuples (no member tasks)."""
        names = self.template.keys
        return [dict(zip(names, row)) for row in members.rows(self.param_kwargs, names, self.get_batch_size())]

    @property
    def local_path(self):
        """The full local path of this task's file (one spectrum; see :meth:`local_paths`)."""
        if self.is_batch_mode:
            raise ValueError(f"{self.get_task_family()}: a batch has many files; use local_paths()")
        return self.template.full(self.param_kwargs)

    def local_paths(self):
        """The local paths of every member's file, in member order (cheap for large batches)."""
        template, root = self.template, sas_root()
        return [template.full(keys, root) for keys in self._key_rows()]

    def remote_urls(self):
        """The SAS URLs of every member's file (setting ``sas_url`` + the path below the SAS root)."""
        template = self.template
        return [_download.remote_url(template.relative(keys)) for keys in self._key_rows()]

    def local_target(self, name):
        """Not available: a data-model task's output is the data file itself (:attr:`local_path`)."""
        raise TypeError(f"{self.get_task_family()} is a data-model file; its output is {type(self).__name__}.local_path")

    def output(self):
        """An atomic file target at :attr:`local_path` (a batch lists its members' targets)."""
        return AtomicFileTarget(self.local_path)

    def complete(self):
        """Whether every member's file exists and is not empty (one pass over the paths)."""
        return not self.missing_paths(first_only=True)

    def missing_paths(self, first_only=False):
        """The local paths that do not exist or are empty.

        :param first_only: stop at the first missing path.
        """
        missing = []
        for path in self.local_paths():
            try:
                if os.stat(path).st_size > 0:
                    continue
            except OSError:
                pass
            missing.append(path)
            if first_only:
                break
        return missing

    # ------------------------------------------------------------------ run: download

    @property
    def run(self):
        """``None`` (an external data dependency) unless ``use_remote``: then :meth:`fetch`."""
        return self.fetch if self.use_remote else None

    def fetch(self):
        """Download every missing member file from the SAS; raise after trying them all.

        :raises astra.tasks.io.download.DownloadError: listing how many files failed, and the first.
        """
        template = self.template
        failures = []
        rows = self._key_rows()
        root = sas_root()
        for keys in rows:
            path = template.full(keys, root)
            if os.path.exists(path) and os.path.getsize(path) > 0:
                continue
            url = _download.remote_url(template.relative(keys))
            try:
                _download.download(url, path)
            except _download.DownloadError as error:
                logger.error("%s: %s", self.get_task_family(), datamodels.printable(error))
                failures.append(error)
        if failures:
            raise _download.DownloadError(
                f"{self.get_task_family()}: {len(failures)} of {len(rows)} files could not be downloaded; first: {failures[0]}"
            )

    def ensure_available(self):
        """Make sure this task's file (one spectrum) is there and not empty.

        Downloads it first when ``use_remote`` is set. Called by a batch for each member
        before ``process()``, so a bad file fails only its own spectrum.

        :raises astra.tasks.batch_run.InputFileError: naming the file and what is wrong: not
            found, empty (0 bytes), not a file, or the download failed (with its reason).
        """
        path = self.local_path
        problem = input_file_problem(path)
        if problem is None:
            return
        kind, message = problem
        if self.use_remote and kind in (MISSING, EMPTY):
            try:
                _download.download(_download.remote_url(self.template.relative(self.param_kwargs)), path)
            except _download.DownloadError as error:
                raise InputFileError(f"{self.get_task_family()}: download failed: {error}") from None
            return
        if kind == MISSING:
            raise InputFileError(self.missing_file_message())
        raise InputFileError(f"{self.get_task_family()}: {message}")

    def missing_file_message(self):
        """A message naming the missing file(s) and how to get them."""
        missing = [datamodels.printable(path) for path in self.missing_paths()]
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return (
            f"{self.get_task_family()}: file not found: {shown}; set use_remote=True (--use-remote) to "
            f"download it from {_download.sas_url()}, or point SAS_BASE_DIR (now {sas_root()}) at a SAS mirror that has it"
        )


@SDSSDataModelTask.event_handler(luigi.Event.DEPENDENCY_MISSING)
def _report_missing(task):
    """Luigi found a data-model file missing and will not download it: say where and why."""
    if isinstance(task, SDSSDataModelTask):
        logger.error("%s", task.missing_file_message())
