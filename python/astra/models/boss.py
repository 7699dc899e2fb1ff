"""The BOSS table of the catalogue: :class:`BossVisitSpectrum`, for spec, specLite and specFull.

The name is that of SDSS's current Astra, so its users' code imports it unchanged::

    from astra.models.boss import BossVisitSpectrum

    spectra = BossVisitSpectrum.select().limit(10)

SDSS-IV spec files have the keys ``run2d``, ``plateid``, ``mjd``, ``fiberid``; SDSS-V specLite
and specFull files ``run2d``, ``fieldid``, ``mjd``, ``catalogid``; the other keys of a row are
``NULL``, and ``data_model`` says which file it is. Sources are keyed by ``SDSS_ID`` when the
header has one, else by ``catalogid``, else by the SDSS-IV ``THING_ID``.
"""

from astra.datamodels.boss import SPEC
from astra.fields import BigIntegerField, FloatField, TextField
from astra.models.spectrum import SpectrumMixin, _integer

__all__ = ["BossVisitSpectrum"]


class BossVisitSpectrum(SpectrumMixin):
    """One BOSS spectrum (one spec/specLite/specFull file): the coadd of one night or plate.

    Header values: ``snr`` (``SNR`` or ``SN_MEDIAN_ALL`` when the header has one; spec,
    specLite and specFull headers do not, so it is the ``SN_MEDIAN_ALL`` of the file's one-row
    ``SPALL`` table, the median S/N per pixel over the spectrum), ``ra`` and ``dec`` (the
    object's position, as the data model says: ``PLUG_RA``/``PLUG_DEC`` of the header, else of
    the ``SPALL`` table, else its ``FIBER_RA``/``FIBER_DEC`` or ``RACAT``/``DECCAT``; never
    ``RA``/``DEC``, which are the telescope's boresight), ``exptime``, ``thing_id``,
    ``observatory`` (``OBSERVAT``: ``APO`` or ``LCO``; ``APO`` for SDSS-III/IV files, which
    have no such card).
    """

    data_model_names = ("spec", "specLite", "specFull")
    spectrum_level = "visit"
    header_keywords = {
        "snr": ("SNR", "SN_MEDIAN_ALL"),
        "ra": SPEC.position_cards()[0],
        "dec": SPEC.position_cards()[1],
        "exptime": ("EXPTIME",),
        "thing_id": ("THING_ID",),
        "observatory": ("OBSERVAT",),
    }

    table_keywords = {
        "snr": ("SPALL", "SN_MEDIAN_ALL"),
        "ra": [(extname, ra) for extname, ra, _ in SPEC.position_columns()],
        "dec": [(extname, dec) for extname, _, dec in SPEC.position_columns()],
    }

    source_keywords = ("SDSS_ID", "CATALOGID", "THING_ID")

    exptime = FloatField(null=True, unit="s", help_text="Exposure time")
    thing_id = BigIntegerField(null=True, help_text="SDSS-IV photometric object (THING_ID)")
    observatory = TextField(null=True, help_text="Observatory (OBSERVAT), APO or LCO")

    @classmethod
    def source_identifier(cls, keys, header):
        """``sdss_id`` from the header, else ``catalogid``, else a positive ``THING_ID``.

        :param keys: the file's data-model keys.
        :param header: the primary header.
        """
        found = super().source_identifier(keys, header)
        if found:
            return found
        catalogid = keys.get("catalogid") or _integer(header.get("CATALOGID"))
        if catalogid:
            return ("catalogid", int(catalogid))
        thing_id = _integer(header.get("THING_ID"))
        return ("sdss4_thing_id", thing_id) if thing_id and thing_id > 0 else None
