"""Layered settings: one place to ask for any Astra setting.

Layers, later ones winning:

1. package defaults in ``astra/etc/astra.yml`` (installed with the package),
2. the user's file ``~/.astra/astra.yml``,
3. a file named by ``$ASTRA_CONFIG``,
4. environment variables for the common keys (:data:`ENVIRONMENT_VARIABLES`).

Luigi's own configuration files (``luigi.cfg``, ``$LUIGI_CONFIG_PATH``) keep providing task
parameter defaults exactly as Luigi users expect; this module does not touch them.

Use it as a module::

    import astra.config
    astra.config.get("output_dir")
    astra.config.origin("output_dir")   # where that value came from
"""

import os
import threading

import yaml

#: Environment variables that override keys of the configuration.
ENVIRONMENT_VARIABLES = {
    "ASTRA_OUTPUT_DIR": "output_dir",
    "ASTRA_DATABASE_URL": "database_url",
    "ASTRA_MAX_BATCH_SIZE": "max_batch_size",
    "ASTRA_SAS_URL": "sas_url",
    "ASTRA_READAHEAD_THREADS": "readahead_threads",
}

#: Keys whose values are paths: ``~`` and environment variables are expanded.
PATH_KEYS = ("output_dir",)

PACKAGE_CONFIG_PATH = os.path.join(os.path.dirname(__file__), "etc", "astra.yml")
USER_CONFIG_PATH = os.path.join("~", ".astra", "astra.yml")

_lock = threading.Lock()
_settings = None
_origins = None


class ConfigurationError(ValueError):
    """A configuration file could not be read or holds something other than a mapping."""


def _read_yaml(path):
    try:
        with open(path) as fp:
            content = yaml.safe_load(fp)
    except yaml.YAMLError as error:
        raise ConfigurationError(f"configuration file {path} is not valid YAML: {error}") from error
    except OSError as error:
        raise ConfigurationError(f"cannot read configuration file {path}: {error}") from error
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigurationError(f"configuration file {path} must hold a mapping of keys to values")
    return content


def _coerce(value, like):
    """Give an environment variable's string the type of the default it replaces."""
    if isinstance(like, bool):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    return value


def layers():
    """The configuration files that apply, lowest precedence first.

    :returns: a list of ``(label, path)`` for the files that exist.
    """
    candidates = [("package", PACKAGE_CONFIG_PATH), ("user", os.path.expanduser(USER_CONFIG_PATH))]
    if os.environ.get("ASTRA_CONFIG"):
        path = os.path.expanduser(os.environ["ASTRA_CONFIG"])
        if not os.path.exists(path):
            raise ConfigurationError(f"ASTRA_CONFIG names {path}, which does not exist")
        candidates.append(("$ASTRA_CONFIG", path))
    return [(label, path) for label, path in candidates if os.path.exists(path)]


def _load():
    settings, origins = {}, {}
    for label, path in layers():
        for key, value in _read_yaml(path).items():
            settings[key] = value
            origins[key] = f"{label} ({path})"
    for variable, key in ENVIRONMENT_VARIABLES.items():
        if os.environ.get(variable):
            try:
                settings[key] = _coerce(os.environ[variable], settings.get(key))
            except ValueError as error:
                raise ConfigurationError(f"environment variable {variable}: {error}") from error
            origins[key] = f"environment (${variable})"
    for key in PATH_KEYS:
        if isinstance(settings.get(key), str):
            settings[key] = os.path.abspath(os.path.expandvars(os.path.expanduser(settings[key])))
    return settings, origins


def reload():
    """Read every layer again (after changing files or environment variables)."""
    global _settings, _origins
    with _lock:
        _settings, _origins = _load()


def invalidate():
    """Forget the loaded settings; the next access reads every layer again."""
    global _settings, _origins
    with _lock:
        _settings, _origins = None, None


def as_dict():
    """All effective settings.

    :returns: a new dictionary of key to value.
    """
    if _settings is None:
        reload()
    return dict(_settings)


def get(key, default=None):
    """One effective setting.

    :param key: the setting's name, e.g. ``"output_dir"``.
    :param default: returned when no layer sets the key.
    """
    if _settings is None:
        reload()
    return _settings.get(key, default)


def origin(key):
    """Which layer the effective value of ``key`` came from, or ``None`` if unset."""
    if _origins is None:
        reload()
    return _origins.get(key)
