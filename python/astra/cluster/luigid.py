"""Start, query and stop a real ``luigid`` (Luigi's central scheduler and web UI).

:func:`start_luigid` runs the ``luigid`` console script of the current Python environment
as a subprocess on a free loopback port, with a state file (so a restart keeps the task
graph) and a log directory, and waits until its HTTP API answers.  The returned
:class:`LuigidProcess` knows its URL, calls luigid's JSON API (:meth:`LuigidProcess.api`),
restarts with the same state and port (:meth:`LuigidProcess.restart`) and stops cleanly.

Workers reach it with ``--scheduler-host``/``--scheduler-port`` on the ``luigi`` command
line, or with ``[core] scheduler_host`` and ``scheduler_port`` in ``luigi.cfg``.

Unless its environment names a ``LUIGI_CONFIG_PATH``, luigid runs with Astra's settings
(:data:`LUIGID_CONFIG_PATH`, ``astra/etc/luigid.cfg``): it notices a SIGKILLed worker within
about 5 s and hands its batch to another worker about 2 s later, where Luigi's defaults take
up to 60 s plus ``worker_disconnect_delay`` and ``retry_delay`` (see docs/clusters.rst).
"""

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["LuigidProcess", "LuigidError", "start_luigid", "free_port", "luigid_executable",
           "count_requests", "LUIGID_CONFIG_PATH", "luigid_environment"]

#: Astra's luigid settings (fast detection of dead workers); see the module documentation.
LUIGID_CONFIG_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "etc", "luigid.cfg")

#: A request line of luigid's log (Tornado's access log): status, HTTP method, API method.
_ACCESS_RE = re.compile(r"tornado\.access\[\d+\] \w+: (\d{3}) (GET|POST) /api/(\w+)")


class LuigidError(RuntimeError):
    """Raised when luigid does not start, or its API gives no usable answer."""


def luigid_executable():
    """Return the path of the ``luigid`` console script beside the running interpreter.

    :returns: absolute path of ``luigid`` in the same environment as :data:`sys.executable`.
    """
    return os.path.join(os.path.dirname(sys.executable), "luigid")


def free_port(host="127.0.0.1"):
    """Return a TCP port that is free on ``host`` right now.

    :param host: interface to bind to when probing.
    :returns: the port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LuigidProcess:
    """A running ``luigid`` subprocess.

    Create it with :func:`start_luigid`.  Usable as a context manager: leaving the block
    stops the process.

    :param host: interface luigid listens on.
    :param port: TCP port luigid listens on.
    :param state_path: luigid's pickled state file (kept across :meth:`restart`).
    :param logdir: directory of ``luigi-server.log`` and of the captured stdout/stderr.
    :param env: environment for the subprocess (e.g. ``LUIGI_CONFIG_PATH``), or ``None``
        for the current environment.
    :param startup_timeout: seconds to wait for the HTTP API to answer.
    """

    def __init__(self, host, port, state_path, logdir, env=None, startup_timeout=30.0):
        self.host = host
        self.port = int(port)
        self.state_path = state_path
        self.logdir = logdir
        self.env = env
        self.startup_timeout = startup_timeout
        self.process = None
        self._stdout = None

    @property
    def url(self):
        """Base URL of the scheduler, e.g. ``http://127.0.0.1:8082/``."""
        return "http://{}:{}/".format(self.host, self.port)

    @property
    def pid(self):
        """Process id of the running luigid, or ``None``."""
        return self.process.pid if self.process is not None else None

    @property
    def log_path(self):
        """Path of the file that captures luigid's stdout and stderr."""
        return os.path.join(self.logdir, "luigid.out")

    @property
    def server_log_path(self):
        """Path of ``luigi-server.log``: luigid's own log, one line per API request."""
        return os.path.join(self.logdir, "luigi-server.log")

    def request_counts(self):
        """Count the API requests luigid has answered so far, by RPC method.

        Read from Tornado's access log lines in :attr:`server_log_path` (luigid started with
        ``--logdir`` logs at INFO level, one line per request).

        :returns: a :class:`collections.Counter` of method name (``add_task``,
            ``get_work``, ``ping``, ...) to number of requests.
        """
        return count_requests(self.server_log_path)

    def is_running(self):
        """Return whether the subprocess is alive.

        :returns: ``True`` while the luigid process runs.
        """
        return self.process is not None and self.process.poll() is None

    def start(self):
        """Start luigid and wait until its API answers.

        :returns: ``self``.
        :raises LuigidError: if the process exits or does not answer in time.
        """
        if self.is_running():
            return self
        os.makedirs(self.logdir, exist_ok=True)
        os.makedirs(os.path.dirname(os.path.abspath(self.state_path)), exist_ok=True)
        argv = [
            luigid_executable(),
            "--port", str(self.port),
            "--address", self.host,
            "--state-path", self.state_path,
            "--logdir", self.logdir,
        ]
        self._stdout = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            argv, stdout=self._stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env, start_new_session=True,
        )
        try:
            self.wait_until_ready(self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ready(self, timeout=30.0):
        """Wait until ``GET /api/task_list`` answers.

        :param timeout: seconds before giving up.
        :raises LuigidError: if the process died or the API does not answer in time.
        """
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if not self.is_running():
                raise LuigidError("luigid exited with status {} during start-up; log: {}\n{}".format(
                    self.process.returncode if self.process else None, self.log_path, self._log_tail()))
            try:
                self.api("task_list", timeout=2.0)
                return
            except (OSError, LuigidError, ValueError) as exc:
                last_error = exc
            time.sleep(0.1)
        raise LuigidError("luigid on {} did not answer within {}s ({}); log: {}\n{}".format(
            self.url, timeout, last_error, self.log_path, self._log_tail()))

    def _log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as fp:
                return b"".join(fp.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def api(self, method, timeout=10.0, **params):
        """Call one of luigid's RPC methods and return its ``response``.

        The methods are those of :class:`luigi.scheduler.Scheduler` marked ``@rpc_method``
        (``task_list``, ``graph``, ``worker_list``, ``fetch_error``, ``task_search``, ...);
        the keyword arguments are sent as the JSON ``data`` argument, like Luigi's own
        :class:`luigi.rpc.RemoteScheduler` does.

        :param method: RPC method name, e.g. ``"task_list"``.
        :param timeout: HTTP timeout in seconds.
        :param params: keyword arguments of the method, e.g. ``status="DONE"``.
        :returns: the decoded ``response`` value.
        :raises LuigidError: if luigid answers with an HTTP error.
        :raises OSError: if luigid cannot be reached.
        """
        query = urllib.parse.urlencode({"data": json.dumps(params)})
        url = "{}api/{}?{}".format(self.url, method, query)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise LuigidError("luigid API {} failed: HTTP {}".format(method, exc.code)) from exc
        return json.loads(body.decode("utf-8"))["response"]

    def task_statuses(self):
        """Return ``{task_id: status}`` for every task luigid knows (no display limit).

        :returns: dictionary of task id to status (``PENDING``, ``RUNNING``, ``DONE``, ...).
        """
        tasks = self.api("task_list", limit=False)
        return {task_id: info["status"] for task_id, info in tasks.items()}

    def stop(self, timeout=10.0):
        """Stop luigid: SIGTERM (it saves its state), wait, SIGKILL on timeout.

        :param timeout: seconds to wait after SIGTERM before killing.
        :returns: the exit status, or ``None`` if it was not running.
        """
        status = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
            status = self.process.returncode
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None
        return status

    def kill(self):
        """Kill luigid with SIGKILL (no state is saved); for fault tests."""
        if self.is_running():
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self, downtime=0.0):
        """Stop luigid and start it again on the same port with the same state path.

        :param downtime: seconds to stay down between stop and start.
        :returns: ``self``.
        """
        self.stop()
        if downtime:
            time.sleep(downtime)
        return self.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return "<LuigidProcess {} pid={}>".format(self.url, self.pid)


def count_requests(server_log_path):
    """Count the API requests in a luigid log (``luigi-server.log``), by RPC method.

    :param server_log_path: the log file; a missing file counts nothing.
    :returns: a :class:`collections.Counter` of method name to number of requests.
    """
    counts = collections.Counter()
    try:
        with open(server_log_path, "r", encoding="utf-8", errors="replace") as fp:
            for line in fp:
                match = _ACCESS_RE.search(line)
                if match:
                    counts[match.group(3)] += 1
    except FileNotFoundError:
        pass
    return counts


def luigid_environment(env=None):
    """The environment to run luigid in: ``env`` (default: this process's), with
    ``LUIGI_CONFIG_PATH`` set to :data:`LUIGID_CONFIG_PATH` unless it names a file already.

    :param env: a mapping of environment variables, or ``None``.
    :returns: a new dict.
    """
    env = dict(os.environ if env is None else env)
    if not env.get("LUIGI_CONFIG_PATH"):
        env["LUIGI_CONFIG_PATH"] = LUIGID_CONFIG_PATH
    return env


def start_luigid(port=None, state_path=None, logdir=None, host="127.0.0.1", env=None,
                 startup_timeout=30.0):
    """Start a real ``luigid`` and wait until it answers.

    :param port: TCP port; a free one is chosen when ``None``.
    :param state_path: luigid's state file; ``<logdir>/luigid-state.pickle`` when ``None``.
    :param logdir: log directory; a new temporary directory when ``None``.
    :param host: interface to listen on (loopback by default).
    :param env: environment of the subprocess, e.g. with ``LUIGI_CONFIG_PATH`` pointing
        at a ``luigi.cfg`` that sets ``[scheduler]`` options; current environment if ``None``.
        Without a ``LUIGI_CONFIG_PATH``, Astra's :data:`LUIGID_CONFIG_PATH` is used.
    :param startup_timeout: seconds to wait for the API.
    :returns: the running :class:`LuigidProcess`.
    :raises LuigidError: if it does not start.
    """
    if logdir is None:
        logdir = tempfile.mkdtemp(prefix="astra-luigid-")
    if state_path is None:
        state_path = os.path.join(logdir, "luigid-state.pickle")
    if port is None:
        port = free_port(host)
    process = LuigidProcess(host, port, state_path, logdir, env=luigid_environment(env),
                            startup_timeout=startup_timeout)
    return process.start()
