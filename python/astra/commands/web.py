"""``astra web``: serve the run dashboard (runs, logs, failures, results, starting runs)."""

import os
import sys

NAME = "web"
HELP = "serve the run dashboard: runs, live logs, failed spectra, results; start and stop runs"

#: The environment variable that may hold the access token.
TOKEN_VARIABLE = "ASTRA_WEB_TOKEN"


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--database", metavar="URL", help="results database URL (default: the configured one)")
    parser.add_argument("--token", help=f"access token for starting and stopping work (default ${TOKEN_VARIABLE}; "
                                        "generated and printed when binding another address than loopback)")


def run(args):
    """Serve until interrupted.

    :param args: parsed arguments.
    :returns: exit status.
    """
    import secrets

    from astra.cli import UsageError

    try:
        from astra.web.app import create_app
        from astra.web.security import is_loopback
    except ImportError as error:
        raise UsageError(f"astra web needs Flask ({error}): pip install 'sdss-astra-luigi[web]'") from None
    from astra.database import DatabaseURLError

    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, not {args.port}")
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if not is_loopback(args.host) and not token:
        token = secrets.token_urlsafe(24)
        print(f"astra web: bound to {args.host}: starting and stopping work needs the access token {token}",
              file=sys.stderr, flush=True)
    try:
        app = create_app(database_url=args.database, token=token)
    except DatabaseURLError as error:
        raise UsageError(str(error)) from None
    from werkzeug.serving import run_simple

    print(f"astra web: serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    from astra.web import launch

    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        launch.stop_all()  # the runs this server started end with it
    return 0
