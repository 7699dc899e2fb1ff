"""Errors raised when a spectrum file cannot be read, and the checked FITS opener behind them.

Every loader opens its file through :func:`open_fits`, so a missing, empty, truncated,
non-FITS or wrongly shaped file always raises :class:`SpectrumReadError` with a message that
starts with the path and says what was wrong, e.g.::

    /sas/.../apStar-r6-2M00452143+1634446.fits: truncated FITS file (expected 10 HDUs, found 4)
"""

import contextlib
import contextvars
import functools
import io
import os
import warnings

from astropy.io import fits

from astra import datamodels
from astra.tools.spectrum.lean_fits import FITS_BLOCK, LeanHDU, LeanHDUList, NotLean

__all__ = ["SpectrumReadError", "open_fits", "describe_source", "read_image", "require_shape", "names_bad_cards"]

#: Bytes that start every FITS file, and every gzip-compressed file.
_FITS_MAGIC = b"SIMPLE  ="
_GZIP_MAGIC = b"\x1f\x8b"


class SpectrumReadError(OSError):
    """A spectrum file is missing, empty, corrupt, truncated or not of the expected kind.

    :param path: The file (or a description of the file object) that could not be read.
    :param reason: What was wrong with it.
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        # OSError pickles its args, not our two-argument signature; workers send errors across
        # processes, so keep the exception picklable.
        return (type(self), (self.path, self.reason))


def describe_source(source):
    """Return a printable name (normally the path) for a file path, file object or HDUList.

    :param source: A path, an open file object, or an :class:`~astropy.io.fits.HDUList`.
    :returns: The path if it can be found, otherwise a short description.
    """
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, fits.HDUList):
        name = source.filename()
        return name if name else "<HDUList>"
    name = getattr(source, "name", None)
    if isinstance(name, (str, os.PathLike)):
        return os.fspath(name)
    return f"<{type(source).__name__}>"


def names_bad_cards(loader):
    """Decorate a loader so that a bad header card raises :class:`SpectrumReadError`.

    astropy parses a card's value when it is first read, which may be after the file was
    opened and checked; its ``VerifyError`` does not name the file. A card that parses but
    holds the wrong kind of value (text where the loader needs a number) surfaces as a
    ``ValueError`` or ``TypeError`` in the loader; both become a ``SpectrumReadError`` naming
    the file, with the original error chained. :func:`~astra.tools.spectrum.registry.register_loader`
    applies it to every registered loader.

    :param loader: A function whose first argument is the path, file object or HDUList.
    """

    @functools.wraps(loader)
    def wrapper(file_obj, *args, **kwargs):
        try:
            return loader(file_obj, *args, **kwargs)
        except fits.VerifyError as error:
            raise SpectrumReadError(describe_source(file_obj), f"unparsable header card ({error})") from error
        except (ValueError, TypeError) as error:
            raise SpectrumReadError(
                describe_source(file_obj), f"unexpected value in the file ({type(error).__name__}: {error})"
            ) from error

    return wrapper


def _check_signature(source, name):
    """Raise for an empty or non-FITS file; leave a file object at its starting position."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise SpectrumReadError(name, "no such file")
        if os.path.isdir(path):
            raise SpectrumReadError(name, "is a directory, not a FITS file")
        if os.path.getsize(path) == 0:
            raise SpectrumReadError(name, "empty file (0 bytes)")
        with open(path, "rb") as fp:
            head = fp.read(len(_FITS_MAGIC))
    elif hasattr(source, "read"):
        try:
            start = source.tell()
            head = source.read(len(_FITS_MAGIC))
            source.seek(start)
        except (OSError, io.UnsupportedOperation):
            return  # not seekable: let astropy decide
        if len(head) == 0:
            raise SpectrumReadError(name, "empty file (0 bytes)")
    else:
        return
    if not (head.startswith(_FITS_MAGIC) or head.startswith(_GZIP_MAGIC)):
        raise SpectrumReadError(name, "not a FITS file (does not start with 'SIMPLE  =')")


_quick = contextvars.ContextVar("astra_quick_open", default=False)


@contextlib.contextmanager
def quick_open():
    """Within this block, :func:`open_fits` opens plain files lazily, with light checks only.

    Only the signature and the size (a whole number of FITS blocks) are checked and only the
    HDUs a loader touches are read. Files of :data:`LEAN_KINDS` are read by the lean reader
    (:mod:`~astra.tools.spectrum.lean_fits`) when they are plain enough, so headers are
    :class:`~astra.tools.spectrum.lean_fits.LeanHeader` mappings there. Use it where a failure can be retried with the full checks
    for a precise message, as :func:`astra.tools.spectrum.read_arrays` does.
    """
    token = _quick.set(True)
    try:
        yield
    finally:
        _quick.reset(token)


#: Data models whose loaders read only image HDUs: the lean reader serves their quick opens.
LEAN_KINDS = frozenset(model.name for model in datamodels.DATA_MODELS.values() if model.lean)


class LayoutNotRecognised(NotLean):
    """A quick open could not recognise the file's layout: the full read decides."""


def _check_quick_layout(hdul, kind, name):
    """The layout check of a quick open, on the headers the loader reads anyway.

    A file recognisably of another data model raises at once; one whose layout is not
    recognised at all raises :class:`LayoutNotRecognised`, so that the caller's full read
    judges it by every check (as the full read would have done in the first place).
    """
    try:
        found = datamodels.kind_from_structure(hdul)
    except NotLean:
        raise
    except Exception as error:  # an odd header: the full read says precisely what is wrong
        raise LayoutNotRecognised(f"layout not checked quickly ({error})") from None
    if found is None:
        raise LayoutNotRecognised("layout not recognised quickly")
    _refuse_other_kind(found, kind, name)


@contextlib.contextmanager
def _open_quickly(path, name, kind):
    size = os.path.getsize(path)
    if size % FITS_BLOCK:
        raise SpectrumReadError(name, f"truncated FITS file ({size} bytes is not a whole number of FITS blocks)")
    lean = None
    if kind in LEAN_KINDS:
        try:
            lean = LeanHDUList(path)
        except NotLean:
            pass  # not plain enough for the lean reader: astropy below
    if lean is not None:
        with lean:
            _check_quick_layout(lean, kind, name)
            yield lean
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any oddity: let the caller retry with the full checks
        with fits.open(path, memmap=False) as hdul:
            _check_quick_layout(hdul, kind, name)
            yield hdul


@contextlib.contextmanager
def open_fits(source, min_hdus=1, kind="FITS"):
    """Open a FITS file for reading, turning every way it can be broken into a clear error.

    :param source: A path, an open binary file object, or an already open
        :class:`~astropy.io.fits.HDUList` (which is yielded as is and not closed).
    :param min_hdus: The number of HDUs the data model requires; fewer raises
        ``truncated FITS file (expected N HDUs, found M)``.
    :param kind: The data model (a key of :data:`~astra.tools.spectrum.identify.FORMATS`, or
        ``"mwm"`` for either mwm kind); a file whose HDU layout is recognisably another data
        model's raises ``wrong kind of file``.
    :yields: The open :class:`~astropy.io.fits.HDUList`, with all headers read.
    :raises SpectrumReadError: If the file is missing, empty, not FITS, corrupt or truncated.
    """
    name = describe_source(source)
    if _quick.get() and isinstance(source, (str, os.PathLike)):
        # No signature check here: astropy fails on a non-FITS file and the caller retries
        # with every check, which names the problem.
        with _open_quickly(os.fspath(source), name, kind) as hdul:
            yield hdul
        return
    if isinstance(source, fits.HDUList):
        _check_kind(source, kind, name)
        _check_hdu_count(source, min_hdus, kind, name, truncated_warning=None)
        yield source
        return

    _check_signature(source, name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(source, memmap=False, lazy_load_hdus=False)
        except Exception as exc:
            raise SpectrumReadError(name, f"corrupt FITS file ({exc})") from exc
        try:
            # Parse every header now, so that astropy's warnings about odd cards are
            # recorded here rather than raised in callers running with warnings as errors.
            for hdu in hdul:
                hdu.header
        except Exception as exc:
            hdul.close(closed=isinstance(source, (str, os.PathLike)))
            raise SpectrumReadError(name, f"corrupt FITS header ({exc})") from exc
    truncated = next(
        (str(w.message) for w in caught if "truncated" in str(w.message).lower()), None
    )
    try:
        if truncated is None:
            _check_kind(hdul, kind, name)
        _check_hdu_count(hdul, min_hdus, kind, name, truncated_warning=truncated)
        yield hdul
    finally:
        # A file object belongs to the caller (or to astropy's registry): leave it open.
        hdul.close(closed=isinstance(source, (str, os.PathLike)))


#: The loader of both mwm data models is opened with this kind when the file name does not say.
_MWM = "mwm"


def _title(kind):
    model = datamodels.DATA_MODELS.get(kind)
    return model.title if model is not None else kind


def _refuse_other_kind(found, kind, name):
    """Raise if a file whose layout is ``found`` may not be read as ``kind``."""
    if found is None or found == kind:
        return
    if kind == _MWM:
        if found in ("mwmStar", "mwmVisit"):
            return
    elif kind not in datamodels.DATA_MODELS or datamodels.DATA_MODELS[kind].accepts_layout(found):
        return  # a plain "FITS" open checks no layout
    raise SpectrumReadError(
        name, f"wrong kind of file: expected {_title(kind)}, but its HDU layout is that of {_title(found)}"
    )


def _check_kind(hdul, kind, name):
    """Refuse a file whose HDU layout is recognisably another data model's."""
    try:
        other = datamodels.kind_from_structure(hdul)
    except Exception:  # a header we cannot interpret is judged by the loader's own checks
        return
    _refuse_other_kind(other, kind, name)


def _check_hdu_count(hdul, min_hdus, kind, name, truncated_warning):
    n = len(hdul)
    kind = _title(kind)
    if truncated_warning is not None:
        raise SpectrumReadError(
            name,
            f"truncated FITS file (expected {min_hdus} HDUs for {kind}, found {n}, "
            f"the last cut short: {truncated_warning})",
        )
    if n < min_hdus:
        raise SpectrumReadError(
            name,
            f"truncated FITS file (expected {min_hdus} HDUs for {kind}, found {n})",
        )


def read_image(hdul, index, name, kind):
    """Return the data array of image HDU ``index``, raising a clear error if it has none.

    :param hdul: An open HDUList.
    :param index: The HDU number.
    :param name: The file name used in messages.
    :param kind: The data model name used in messages.
    :returns: The data as a numpy array (a copy, valid after the file is closed).
    :raises SpectrumReadError: If the HDU is not an image or holds no data.
    """
    hdu = hdul[index]
    if isinstance(hdu, LeanHDU):
        data = hdu.data  # a fresh array; NotLean (a scaled image, say) reaches the caller
        if data is None:
            raise SpectrumReadError(name, f"HDU {index} has no data, expected an image for {kind}")
        return data
    if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        raise SpectrumReadError(
            name, f"HDU {index} is a {type(hdu).__name__}, expected an image for {kind}"
        )
    try:
        data = hdu.data
    except Exception as exc:  # astropy raises ValueError/TypeError for cut-short data
        raise SpectrumReadError(name, f"HDU {index} data cannot be read ({exc})") from exc
    if data is None:
        raise SpectrumReadError(name, f"HDU {index} has no data, expected an image for {kind}")
    return data.copy()


def require_shape(array, expected, name, index, what="data"):
    """Check an array's shape against a pattern, raising a clear error on mismatch.

    :param array: The array read from the file.
    :param expected: A tuple of ints or ``None`` (any length along that axis).
    :param name: The file name used in messages.
    :param index: The HDU number used in messages.
    :param what: What the HDU holds, used in messages (e.g. ``"flux"``).
    :raises SpectrumReadError: If the number of axes or a fixed axis length differs.
    """
    shape = tuple(array.shape)
    ok = len(shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected, shape)
    )
    if not ok:
        pretty = "(" + ", ".join("n" if e is None else str(e) for e in expected)
        pretty += ",)" if len(expected) == 1 else ")"
        raise SpectrumReadError(
            name, f"HDU {index} ({what}) has shape {shape}, expected {pretty}"
        )
