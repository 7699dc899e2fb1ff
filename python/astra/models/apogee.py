"""The APOGEE tables of the catalogue: apStar, apVisit and aspcapStar files.

* :class:`ApogeeCoaddedSpectrumInApStar` -- one row per apStar file; its ``flux`` is the
  combined spectrum (row 0 of the file);
* :class:`ApogeeVisitSpectrum` -- one row per apVisit file (the three chips joined);
* :class:`ApogeeAspcapStarSpectrum` -- one row per aspcapStar file (ASPCAP's normalised
  spectrum; the best-fitting model is in ``read().meta["model_flux"]``).

The first two names are those of SDSS's current Astra, so code written for it imports them
unchanged. Sources are keyed by ``SDSS_ID`` when the header has one, else by the APOGEE object
name (``obj``, or ``OBJID`` in the header).
"""

from astra.fields import FloatField, IntegerField, TextField
from astra.models.spectrum import SpectrumMixin

__all__ = ["ApogeeCoaddedSpectrumInApStar", "ApogeeVisitSpectrum", "ApogeeAspcapStarSpectrum"]


class _ApogeeSpectrum(SpectrumMixin):
    """Sources of APOGEE spectra: ``SDSS_ID`` if the header has it, else the object name."""

    source_keywords = ("SDSS_ID", "OBJID", "APOGEE_ID")

    @classmethod
    def source_identifier(cls, keys, header):
        """``("sdss_id", SDSS_ID)``, else ``("sdss4_apogee_id", obj or OBJID)``, else ``None``.

        :param keys: the file's data-model keys.
        :param header: the primary header.
        """
        found = super().source_identifier(keys, header)
        if found:
            return found
        obj = keys.get("obj") or header.get("OBJID") or header.get("APOGEE_ID")
        obj = str(obj).strip() if obj is not None else ""
        return ("sdss4_apogee_id", obj) if obj else None


class ApogeeCoaddedSpectrumInApStar(_ApogeeSpectrum):
    """The combined spectrum of one star in an apStar file (one row per file).

    Keys: ``apred``, ``apstar``, ``telescope``, ``field``, ``prefix``, ``obj`` (SDSS-IV) or
    ``healpix`` (SDSS-V). Header values: ``snr``, ``n_visits``, ``ra``, ``dec``, ``obj_id``.
    """

    data_model_names = ("apStar",)
    spectrum_level = "star"
    header_keywords = {
        **SpectrumMixin.header_keywords,
        "n_visits": ("NVISITS",),
        "obj_id": ("OBJID",),
    }

    n_visits = IntegerField(null=True, help_text="Number of visits combined")
    obj_id = TextField(null=True, help_text="Object name in the header (OBJID)")


class ApogeeVisitSpectrum(_ApogeeSpectrum):
    """One APOGEE visit spectrum (apVisit file): one fibre, one plate, one night.

    Keys: ``apred``, ``telescope``, ``field``, ``plate``, ``mjd``, ``fiber``, ``prefix``.
    Header values: ``snr``, ``ra``, ``dec``, ``obj_id``, ``exptime``, ``date_obs``.
    """

    data_model_names = ("apVisit",)
    spectrum_level = "visit"
    header_keywords = {
        **SpectrumMixin.header_keywords,
        "obj_id": ("OBJID",),
        "exptime": ("EXPTIME",),
        "date_obs": ("DATE-OBS",),
    }

    obj_id = TextField(null=True, index=True, help_text="Object name in the header (OBJID)")
    exptime = FloatField(null=True, unit="s", help_text="Exposure time")
    date_obs = TextField(null=True, help_text="Start of the observation (DATE-OBS)")


class ApogeeAspcapStarSpectrum(_ApogeeSpectrum):
    """ASPCAP's pseudo-continuum-normalised spectrum of one star (aspcapStar file).

    Keys: ``apred``, ``apstar``, ``aspcap``, ``results``, ``location``, ``telescope``,
    ``field``, ``obj``. Header values: ``snr``, ``ra``, ``dec``, ``obj_id``.
    """

    data_model_names = ("aspcapStar",)
    spectrum_level = "star"
    header_keywords = {**SpectrumMixin.header_keywords, "obj_id": ("OBJID", "APOGEE_ID")}

    obj_id = TextField(null=True, help_text="Object name in the header (OBJID)")
