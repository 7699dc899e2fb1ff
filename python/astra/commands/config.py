"""``astra config``: the effective settings and where each came from."""

import json

import astra.config

NAME = "config"
HELP = "show the effective settings and the layer each came from"


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    parser.add_argument("key", nargs="?", help="show only this setting's value")
    parser.add_argument("--json", action="store_true", help="print the settings as JSON")


def run(args):
    """Print the settings.

    :param args: parsed arguments.
    :returns: exit status.
    """
    from astra.cli import UsageError

    try:
        settings = astra.config.as_dict()
    except astra.config.ConfigurationError as error:
        raise UsageError(str(error)) from None
    if args.key:
        if args.key not in settings:
            raise UsageError(f"no setting named {args.key!r} (known: {', '.join(sorted(settings))})")
        print(settings[args.key])
        return 0
    if args.json:
        print(json.dumps({k: {"value": v, "from": astra.config.origin(k)} for k, v in settings.items()}, indent=2))
        return 0
    width = max(len(k) for k in settings)
    for key in sorted(settings):
        print(f"{key:<{width}}  {settings[key]!s:<40}  # {astra.config.origin(key)}")
    return 0
