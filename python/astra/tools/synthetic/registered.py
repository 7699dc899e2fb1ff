"""The synthetic writer of each data model, registered by data-model name.

Each is ``writer(path, keys, labels, seed, **options)``: it turns a data model's keys into the
arguments of the writer of its HDU layout (:mod:`astra.tools.synthetic.apogee`, ``boss``,
``mwm``, ``aspcap``). :func:`astra.tools.synthetic.write_sample_tree` finds them through
:attr:`astra.datamodels.DataModel.synthetic_writer`.
"""

from astra.datamodels.registry import register
from astra.datamodels.releases import layout_for
from astra.tools.synthetic.apogee import write_apstar, write_apvisit
from astra.tools.synthetic.aspcap import write_aspcapstar
from astra.tools.synthetic.boss import write_boss_spec
from astra.tools.synthetic.mwm import write_mwmstar, write_mwmvisit

__all__ = []


@register("synthetic_writer", "apStar")
def _write_apstar(path, keys, labels, seed, **options):
    if "layout" not in options and keys.get("release"):
        layout = layout_for("apStar", keys["release"])
        if layout is not None:
            options["layout"] = layout.name
    return write_apstar(path, labels=labels, seed=seed, obj=keys.get("obj"), field=keys.get("field", "120-45"),
                        telescope=keys.get("telescope", "apo25m"), apred=keys.get("apred", "r6"), **options)


@register("synthetic_writer", "apVisit")
def _write_apvisit(path, keys, labels, seed, **options):
    options.setdefault("extnames", keys.get("release") == "dr19")  # DR19 names HDUs 1-10 (apVisit.md)
    return write_apvisit(path, labels=labels, seed=seed, plate=keys["plate"], mjd=keys["mjd"], fiber=keys["fiber"],
                         telescope=keys.get("telescope", "apo25m"), apred=keys.get("apred", "r6"), **options)


@register("synthetic_writer", "aspcapStar")
def _write_aspcapstar(path, keys, labels, seed, **options):
    return write_aspcapstar(path, labels=labels, seed=seed, obj=keys.get("obj"), field=keys.get("field", "120-45"),
                            **options)


@register("synthetic_writer", "spec")
def _write_spec(path, keys, labels, seed, **options):
    return write_boss_spec(path, labels=labels, seed=seed, plateid=keys["plateid"], mjd=keys["mjd"],
                           fiberid=keys["fiberid"], run2d=keys["run2d"], **options)


@register("synthetic_writer", "specLite", "specFull")
def _write_sdss5_spec(path, keys, labels, seed, **options):
    # specLite/specFull keep the spec layout; the field stands where the plate was.
    options.setdefault("observatory", "APO")  # SDSS-V headers say where (OBSERVAT)
    options.setdefault("layout", "specFull" if keys.get("data_model") == "specFull" else "specLite")
    return write_boss_spec(path, labels=labels, seed=seed, plateid=int(keys["fieldid"]), mjd=keys["mjd"],
                           fiberid=1, run2d=keys["run2d"], **options)


@register("synthetic_writer", "mwmStar")
def _write_mwmstar(path, keys, labels, seed, **options):
    return write_mwmstar(path, sdss_id=keys["sdss_id"], v_astra=keys["v_astra"], labels=labels, seed=seed, **options)


@register("synthetic_writer", "mwmVisit")
def _write_mwmvisit(path, keys, labels, seed, **options):
    return write_mwmvisit(path, sdss_id=keys["sdss_id"], v_astra=keys["v_astra"], labels=labels, seed=seed, **options)
