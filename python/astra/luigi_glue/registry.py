"""Luigi's task registry, its configuration files and its command line, behind public names."""

import luigi
from luigi.cmdline_parser import CmdlineParser
from luigi.configuration.cfg_parser import LuigiConfigParser
from luigi.configuration.toml_parser import LuigiTomlParser
from luigi.task_register import Register, TaskClassException

__all__ = ["Register", "TaskClassException", "registered_classes", "instance_cache", "command_line_active",
           "configuration_parsers", "VisibilityHook"]


def registered_classes():
    """Every task class Luigi's registry knows, in the order they were made."""
    return list(Register._reg)


def instance_cache(cls):
    """Luigi's cache of a task class's instances (a dict; ``None`` when Luigi disabled it).

    :param cls: a task class.
    """
    return cls._Register__instance_cache


def command_line_active():
    """Whether a ``luigi`` command line is being parsed or run in this process."""
    return CmdlineParser._instance is not None


def configuration_parsers():
    """``(cfg, toml)``: the loaded ``luigi.cfg`` and ``luigi.toml`` parsers (either may be ``None``).

    Loads the configuration as Luigi would when neither is loaded yet.
    """
    cfg, toml = LuigiConfigParser._instance, LuigiTomlParser._instance
    if cfg is None and toml is None:
        luigi.configuration.get_config()  # loads luigi.cfg (or luigi.toml) as Luigi would
        cfg, toml = LuigiConfigParser._instance, LuigiTomlParser._instance
    return cfg, toml


class VisibilityHook:
    """A mixin for a task: the visibilities of its parameters sent to the scheduler go through
    :meth:`adjust_param_visibilities` (Luigi asks the private ``_get_param_visibilities``)."""

    def _get_param_visibilities(self):
        return self.adjust_param_visibilities(super()._get_param_visibilities())

    def adjust_param_visibilities(self, visibilities):
        """The visibilities to send (default: Luigi's).

        :param visibilities: ``{name: serialised ParameterVisibility}``, Luigi's.
        """
        return visibilities
