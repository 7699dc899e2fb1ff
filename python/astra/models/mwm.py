"""The Milky Way Mapper tables of the catalogue: mwmStar and mwmVisit files.

* :class:`MwmStarSpectrum` -- one row per mwmStar file: a source's combined spectra;
* :class:`MwmVisitSpectrum` -- one row per mwmVisit file: a source's visit spectra.

Each file holds up to four tables of spectra (BOSS/APO, BOSS/LCO, APOGEE/APO, APOGEE/LCO;
HDUs 1-4). SDSS's current Astra splits them into per-instrument tables
(``BossCombinedSpectrum``, ``ApogeeCombinedSpectrum``, ...); here a row is a file, and the
columns ``n_boss_apo``, ``n_boss_lco``, ``n_apogee_apo``, ``n_apogee_lco`` count the spectra of
each HDU, so ``MwmStarSpectrum.select().where(MwmStarSpectrum.n_apogee_apo > 0)`` finds the
sources with an APOGEE spectrum from APO. ``row.flux`` is the first spectrum of the first
non-empty HDU; ``row.read(hdu=3)`` reads another. Sources are keyed by ``sdss_id``.
"""

from astra.fields import IntegerField
from astra.models.spectrum import SpectrumMixin

__all__ = ["MwmStarSpectrum", "MwmVisitSpectrum", "MWM_COUNT_COLUMNS"]

#: The columns counting the spectra in HDUs 1-4.
MWM_COUNT_COLUMNS = ("n_boss_apo", "n_boss_lco", "n_apogee_apo", "n_apogee_lco")


class _MwmSpectrum(SpectrumMixin):
    """Columns and header reading shared by mwmStar and mwmVisit."""

    header_keywords = {"ra": ("RA",), "dec": ("DEC",)}

    n_boss_apo = IntegerField(null=True, help_text="Spectra in HDU 1 (BOSS/APO)")
    n_boss_lco = IntegerField(null=True, help_text="Spectra in HDU 2 (BOSS/LCO)")
    n_apogee_apo = IntegerField(null=True, help_text="Spectra in HDU 3 (APOGEE/APO)")
    n_apogee_lco = IntegerField(null=True, help_text="Spectra in HDU 4 (APOGEE/LCO)")

    @classmethod
    def file_values(cls, hdus):
        """The number of spectra (table rows, ``NAXIS2``) in each of HDUs 1-4.

        :param hdus: the structure of the file's HDUs.
        """
        values = {}
        for index, column in enumerate(MWM_COUNT_COLUMNS, 1):
            axes = hdus[index].axes if index < len(hdus) else ()
            values[column] = axes[1] if len(axes) == 2 else None
        return values


class MwmStarSpectrum(_MwmSpectrum):
    """All combined spectra of one source (mwmStar file)."""

    data_model_names = ("mwmStar",)
    spectrum_level = "star"


class MwmVisitSpectrum(_MwmSpectrum):
    """All visit spectra of one source (mwmVisit file)."""

    data_model_names = ("mwmVisit",)
    spectrum_level = "visit"
