"""Write many synthetic files at their sdss-access locations under a SAS root."""

import os

import numpy as np

from astra import datamodels
from astra.datamodels.paths import full_path, template_keys
from astra.tools.synthetic import common
from astra.tools.synthetic.model import draw_labels

__all__ = ["write_sample_tree", "SampleTree", "sample_keys", "resolve_path", "corrupt_file"]

_APRED = {"dr13": "r6", "dr14": "r8", "dr15": "r8", "dr16": "r12", "dr17": "dr17"}
_RUN2D = {"dr13": "v5_10_0", "dr14": "v5_10_0", "dr15": "v5_10_0", "dr16": "v5_13_0",
          "dr17": "v5_13_2"}
_ASPCAP = {"dr13": ("l30e", "l30e.2"), "dr14": ("l31c", "l31c.2"), "dr15": ("l31c", "l31c.2"),
           "dr16": ("l33", None), "dr17": ("dr17", None)}
_FIELDS = ("120-45", "009+09", "221+84", "N1333", "M67", "060+00", "K2_C4_168-21", "N188")
CORRUPTIONS = ("truncated", "not-fits", "empty")


class SampleTree(list):
    """The key dicts of the files :func:`write_sample_tree` wrote, with what it wrote.

    A plain list of dicts (pass one as ``**keys`` to a data-model task), plus:

    :ivar release: The release the keys are for.
    :ivar species: The file species.
    :ivar paths: The file written for each entry, in the same order.
    :ivar labels: The true labels of each entry (dicts of teff, logg, fe_h).
    :ivar corrupt: ``{index: how}`` for the entries deliberately broken
        (``"truncated"``, ``"not-fits"`` or ``"empty"``).
    """

    def __init__(self, keys, release, species, paths, labels, corrupt):
        super().__init__(keys)
        self.release = release
        self.species = species
        self.paths = paths
        self.labels = labels
        self.corrupt = corrupt


def _template_keys(release, species):
    return template_keys(release, species)


def resolve_path(sas_root, release, species, keys):
    """Return the full path of a file under ``sas_root`` for a release, species and keys.

    Uses :func:`astra.datamodels.paths.full_path` (per-release templates, no global state).

    :param sas_root: The SAS root directory (used as ``SAS_BASE_DIR``).
    :param release: Release name, e.g. ``"dr13"``.
    :param species: File species, e.g. ``"apStar"``.
    :param keys: Template keys.
    :returns: The absolute path.
    """
    return full_path(release, species, sas_base_dir=os.fspath(sas_root), **keys)


def sample_keys(rng, release, species, needed):
    """Draw one realistic key dict for ``species`` in ``release``.

    :param rng: A numpy Generator.
    :param release: Release name.
    :param species: File species.
    :param needed: The template keys the release needs; only these are returned.
    :returns: A dict of keys.
    """
    family = release if release in _APRED else "sdss5"
    ra, dec = rng.uniform(0, 360), float(np.degrees(np.arcsin(rng.uniform(-0.5, 1.0))))
    telescope = "apo25m" if rng.random() < 0.85 or family in ("dr13", "dr14", "dr15") else "lco25m"
    aspcap, results = _ASPCAP.get(family, ("1.3", None))
    pool = {
        "apred": _APRED.get(family, "1.3"),
        "apstar": "stars",
        "telescope": telescope,
        "prefix": "ap" if telescope == "apo25m" else "as",
        "field": str(rng.choice(_FIELDS)),
        "obj": common.twomass_id(ra, dec),
        "plate": int(rng.integers(4000, 10000)),
        "mjd": int(rng.integers(55700, 58900)),
        "fiber": int(rng.integers(1, 301)),
        "run2d": _RUN2D.get(family, "v6_1_3"),
        "plateid": int(rng.integers(3500, 11000)),
        "fiberid": int(rng.integers(1, 1001)),
        "aspcap": aspcap,
        "results": results,
        "location": int(rng.integers(4000, 5500)),
        "healpix": int(rng.integers(0, 49152)),
        "sdss_id": int(rng.integers(1, 120_000_000)),
        "v_astra": "0.6.0",
        "catalogid": int(rng.integers(10**16, 10**17)),
        "fieldid": int(rng.integers(15000, 110000)),
    }
    for key, (low, high) in datamodels.get(species).synthetic_keys.items():
        pool[key] = int(rng.integers(low, high))
    return {k: pool[k] for k in needed if k in pool}


def _writer(species, path, keys, labels, rng, options):
    # Each file draws from the same stream: distinct, reproducible.
    model = datamodels.get(species)
    writer = model.synthetic_writer
    if writer is None:
        having = ", ".join(m.name for m in datamodels.DATA_MODELS.values() if m.synthetic_writer is not None)
        raise ValueError(f"no synthetic writer for {model.name!r}; supported: {having}")
    return writer(path, keys, labels, rng, **options)


def corrupt_file(path, how):
    """Break a file on purpose, the ways real transfers break.

    :param path: The file to damage (in place).
    :param how: ``"truncated"`` (cut to 60 per cent of its size), ``"not-fits"`` (first
        block overwritten with text) or ``"empty"`` (0 bytes).
    """
    if how == "empty":
        open(path, "wb").close()
    elif how == "truncated":
        size = os.path.getsize(path)
        with open(path, "r+b") as fp:
            fp.truncate(int(size * 0.6))
    elif how == "not-fits":
        with open(path, "r+b") as fp:
            fp.write(b"<html><body>502 Bad Gateway</body></html>".ljust(2880, b" "))
    else:
        raise ValueError(f"unknown corruption {how!r}; expected one of {CORRUPTIONS}")


def write_sample_tree(
    sas_root,
    n,
    release="dr13",
    species="apStar",
    seed=0,
    corrupt=0,
    labels=None,
    **options,
):
    """Write ``n`` synthetic files where sdss-access expects them under ``sas_root``.

    Keys are realistic for the release (dr13 apStar: ``apred="r6"``, ``apstar="stars"``,
    ``telescope="apo25m"``, ``prefix="ap"``, a field such as ``"120-45"`` and a 2MASS-style
    ``obj``; apVisit: plate, mjd, fiber; spec: run2d, plateid, mjd, fiberid; mwmStar and
    mwmVisit: v_astra, sdss_id) and only those the release's template needs are returned.
    Labels are drawn with :func:`~astra.tools.synthetic.model.draw_labels` unless given.

    :param sas_root: The SAS root (what ``SAS_BASE_DIR`` would point at).
    :param n: Number of files.
    :param release: Release, e.g. ``"dr13"``, ``"dr16"``, ``"dr17"``, ``"dr19"``.
    :param species: ``"apStar"``, ``"apVisit"``, ``"aspcapStar"``, ``"spec"``, ``"mwmStar"``
        or ``"mwmVisit"``.
    :param seed: Seed making keys, labels and noise reproducible.
    :param corrupt: How many of the files to break (cycling through truncated, not-FITS and
        empty); which ones is recorded in ``SampleTree.corrupt``.
    :param labels: A list of ``n`` label dicts, or ``None`` to draw them.
    :param options: Passed to the writer (e.g. ``snr=50``, ``n_visits=3``).
    :returns: A :class:`SampleTree`: the list of key dicts, with ``paths``, ``labels`` and
        ``corrupt``.
    """
    if corrupt > n:
        raise ValueError(f"cannot corrupt {corrupt} of {n} files")
    rng = np.random.default_rng(seed)
    needed = _template_keys(release, species)
    labels = draw_labels(rng, n) if labels is None else list(labels)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} label sets given for {n} files")
    keys, paths, seen = [], [], set()
    while len(keys) < n:
        k = sample_keys(rng, release, species, needed)
        path = resolve_path(sas_root, release, species, k)
        if path in seen:
            continue
        seen.add(path)
        keys.append(k)
        paths.append(path)
    for k, path, lab in zip(keys, paths, labels):
        _writer(species, path, {**k, "release": release, "data_model": species}, lab, rng, options)
    broken = {}
    for i, index in enumerate(sorted(rng.choice(n, size=corrupt, replace=False))):
        how = CORRUPTIONS[i % len(CORRUPTIONS)]
        corrupt_file(paths[index], how)
        broken[int(index)] = how
    return SampleTree(keys, release, species, paths, labels, broken)
