"""The ``astra web`` application: :func:`create_app` builds it over the results database."""

import secrets
import threading

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from astra.version import __version__
from astra.web import security

__all__ = ["create_app"]


def create_app(database_url=None, token=None, secret_key=None):
    """The Flask application of ``astra web``.

    :param database_url: the results database (default: the configured one).
    :param token: the access token starting and stopping work needs (``None``: none needed).
    :param secret_key: signs the session cookie (default: random for this process, so
        sessions end when the server stops).
    :returns: a :class:`flask.Flask` application.
    """
    from astra.database.connection import connect, get_database
    from astra.models.run import ensure_run_tables

    db = connect(database_url) if database_url else get_database()
    ensure_run_tables(db)
    app = Flask("astra.web", static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_bytes(32),
        ASTRA_TOKEN=token or None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.before_request(security.check_request)
    from astra.web.display import rst_inline

    app.jinja_env.filters["rst"] = rst_inline
    app.jinja_env.globals.update(csrf_token=security.csrf_token, astra_version=__version__,
                                 token_required=lambda: bool(app.config["ASTRA_TOKEN"]),
                                 token_ok=security.token_ok)

    from astra.web import results, views_runs, views_work

    app.register_blueprint(views_runs.blueprint)
    app.register_blueprint(views_work.blueprint)
    app.register_blueprint(results.blueprint)

    @app.errorhandler(HTTPException)
    def _error(error):
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            return jsonify(error=error.name, description=error.description), error.code
        return render_template("error.html", error=error), error.code

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
        return response

    # Importing the registered tasks can take seconds (specutils): do it before the first form.
    threading.Thread(target=_warm_up, name="astra-web-warm-up", daemon=True).start()
    return app


def _warm_up():
    from astra.web import launch

    try:
        launch.registered_tasks()
    except Exception:  # the start page reports what cannot be imported
        pass
