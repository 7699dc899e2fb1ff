"""One way to register Astra's loaders with the specutils/astropy I/O registry."""

from specutils import Spectrum
from specutils.io.registers import data_loader

from astra.tools.spectrum.errors import names_bad_cards
from astra.tools.spectrum.identify import FORMATS, PRIORITY, make_identifier

__all__ = ["register_loader"]


def register_loader(kind, dtype=Spectrum, **options):
    """Decorate a loader: register it for ``kind``, above specutils' own readers.

    The registered function is the loader wrapped by
    :func:`~astra.tools.spectrum.errors.names_bad_cards`, so a bad header card raises a
    :class:`~astra.tools.spectrum.errors.SpectrumReadError` naming the file; the decorator
    returns that same function.

    :param kind: The data model (a key of :data:`~astra.tools.spectrum.identify.FORMATS`).
    :param dtype: :class:`specutils.Spectrum` or :class:`specutils.SpectrumList`.
    :param options: Further arguments of :func:`specutils.io.registers.data_loader`.
    """

    def decorate(loader):
        checked = names_bad_cards(loader)
        data_loader(
            FORMATS[kind],
            identifier=make_identifier(kind),
            dtype=dtype,
            extensions=["fits"],
            priority=PRIORITY,
            force=True,
            **options,
        )(checked)
        return checked

    return decorate
