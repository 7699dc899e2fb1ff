"""Fetch a file from the SDSS Science Archive Server (SAS) over HTTP(S), atomically.

:func:`download` writes to a temporary file beside the destination and renames it into place
only after the whole body arrived (as many bytes as ``Content-Length`` promised) and, for a
FITS file, after every HDU's header and data were read back. A cut connection, a timeout, a
server error or a truncated file is retried with exponential backoff; a zero-byte or partial
file is never left at the destination. The temporary file of an earlier download of the same
file whose process died (SIGKILL, a lost node) is removed before downloading again, unless that
process is still alive (:func:`astra.targets.remove_dead_temporaries`).

Settings (:mod:`astra.config`): ``sas_url`` (``$ASTRA_SAS_URL``; default
``https://data.sdss.org/sas``), ``download_retries`` (retries after the first attempt),
``download_timeout`` (seconds per network operation) and ``download_backoff`` (first delay in
seconds, doubled per retry; default 1).

Credentials for proprietary data come from a netrc file as sdss-access reads them: ``$NETRC``
if set, else ``~/.netrc``; the entry whose ``machine`` is the URL's host gives the login and
password sent with HTTP basic authentication.
"""

import base64
import http.client
import logging
import netrc
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
import warnings

import astra.config
from astra.datamodels.keys import printable
from astra.retry import RetryPolicy
from astra.targets import atomic_path, remove_dead_temporaries
from astra.version import __version__

__all__ = ["DownloadError", "sas_url", "remote_url", "netrc_credentials", "download", "verify_fits"]

logger = logging.getLogger("astra")

_CHUNK = 1 << 20
#: HTTP statuses worth retrying (the server may recover); others fail at once.
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_FITS_ENDINGS = (".fits", ".fit", ".fts")


class DownloadError(OSError):
    """A file could not be downloaded (after all retries, or at once for a permanent error)."""


class _Retryable(Exception):
    """An attempt failed in a way that another attempt may fix."""


def sas_url():
    """The base URL of the SAS (setting ``sas_url``, ``$ASTRA_SAS_URL``), without a trailing slash."""
    return str(astra.config.get("sas_url") or "https://data.sdss.org/sas").rstrip("/")


def remote_url(relative, base_url=None):
    """The URL of a file given its path relative to the SAS root.

    :param relative: e.g. ``"dr16/apogee/spectro/redux/r12/visit/..."``.
    :param base_url: the SAS base URL; default :func:`sas_url`.
    """
    base = (base_url or sas_url()).rstrip("/")
    return f"{base}/{urllib.parse.quote(relative.replace(os.sep, '/').lstrip('/'))}"


def netrc_credentials(host):
    """The ``(login, password)`` for ``host`` from ``$NETRC`` or ``~/.netrc``, or ``None``.

    :param host: a host name, e.g. ``"data.sdss.org"`` (a port is ignored).
    """
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.exists(path):
        return None
    try:
        entry = netrc.netrc(path).authenticators(host.split(":")[0])
    except (netrc.NetrcParseError, OSError) as error:
        raise DownloadError(f"cannot read credentials from {path}: {error}") from error
    if entry is None:
        return None
    login, _, password = entry
    return login, password or ""


def verify_fits(path):
    """Read every HDU's header and data of a FITS file; raise if it is not whole.

    :param path: the file.
    :raises OSError: when the file is empty, not FITS, or truncated.
    """
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*truncated.*")
            # Our own handle: astropy does not close a file it fails to open.
            with open(path, "rb") as fp, fits.open(fp, memmap=False, lazy_load_hdus=False) as hdulist:
                if len(hdulist) == 0:
                    raise OSError("no HDUs")
                for hdu in hdulist:
                    data = hdu.data
                    if data is not None and hasattr(data, "columns"):
                        for index in range(len(data.columns)):
                            data.field(index)
    except Exception as error:  # astropy raises several types for a damaged file
        raise OSError(f"{path} is not a complete FITS file: {type(error).__name__}: {error}") from error


def _request(url):
    request = urllib.request.Request(url, headers={"User-Agent": f"astra/{__version__}"})
    credentials = netrc_credentials(urllib.parse.urlsplit(url).netloc)
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode("ascii")
        # Not copied onto redirects, which may lead to another host.
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _attempt(url, path, timeout, verify):
    """One download attempt into a temporary file renamed to ``path`` on success."""
    try:
        with atomic_path(path) as temporary:
            with urllib.request.urlopen(_request(url), timeout=timeout) as response, open(temporary, "wb") as fp:
                expected = response.headers.get("Content-Length")
                received = 0
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    fp.write(chunk)
                    received += len(chunk)
            if expected is not None and received != int(expected):
                raise _Retryable(f"received {received} of {expected} bytes")
            if received == 0:
                raise _Retryable("the server sent an empty file")
            if verify:
                try:
                    verify_fits(temporary)
                except OSError as error:
                    raise _Retryable(str(error).replace(temporary, "the downloaded file")) from error
    except urllib.error.HTTPError as error:
        error.close()  # it holds the response's socket
        if error.code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {error.code} {error.reason}") from error
        hint = ""
        if error.code in (401, 403):
            host = urllib.parse.urlsplit(url).hostname
            hint = f"; proprietary data need a 'machine {host}' entry in ~/.netrc (or $NETRC)"
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}{hint}") from error
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError) as error:
        raise _Retryable(f"{type(error).__name__}: {error}") from error


def download(url, path, retries=None, timeout=None, backoff=None, verify=None):
    """Download ``url`` to ``path`` atomically, retrying transient failures.

    :param url: the file's URL (see :func:`remote_url`).
    :param path: the local destination; parent directories are created.
    :param retries: retries after the first attempt; default setting ``download_retries`` (3).
    :param timeout: seconds per network operation; default setting ``download_timeout`` (60).
    :param backoff: delay before the first retry, doubled each time; default setting
        ``download_backoff`` (1 s).
    :param verify: read the file back as FITS; default: when ``path`` ends in ``.fits``.
    :returns: ``path``.
    :raises DownloadError: naming the URL and the last failure.
    """
    retries = int(astra.config.get("download_retries", 3) if retries is None else retries)
    timeout = float(astra.config.get("download_timeout", 60) if timeout is None else timeout)
    backoff = float(astra.config.get("download_backoff", 1.0) if backoff is None else backoff)
    if verify is None:
        verify = path.lower().endswith(_FITS_ENDINGS)
    attempts = max(retries, 0) + 1
    # A download killed before (SIGKILL, a node lost) left its temporary file beside the
    # destination, in the SAS tree: remove it now, unless its writer is still alive.
    remove_dead_temporaries(os.path.dirname(os.path.abspath(path)), name=os.path.basename(path))
    def on_retry(attempt, error, delay):
        logger.warning(
            "download of %s failed (attempt %d of %d): %s; retrying in %.3g s",
            printable(url), attempt, attempts, printable(error), delay,
        )

    policy = RetryPolicy(tries=attempts, backoff=backoff, max_wait=float("inf"), exceptions=(_Retryable,))
    try:
        policy.call_counted(_attempt, url, path, timeout, verify, on_retry=on_retry)
    except _Retryable as error:
        raise DownloadError(f"cannot download {url} after {attempts} attempts: {error}") from error
    logger.info("downloaded %s to %s", printable(url), printable(path))
    return path
