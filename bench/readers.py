"""Reading one spectrum file: Astra's readers beside a bare astropy read, per file.

Times, in one process over the same files, in turns (``--repeat`` rounds, best round shown):

- astropy: ``fits.open`` and the data of HDUs 1-3 (flux, sigma, bitmask), nothing else;
- ``read_arrays``: Astra's arrays reader (the lean FITS reader for plain files), with the
  inverse variances, the bad-pixel mask, the wavelength grid and the header metadata;
- ``read_arrays`` with the lean reader but without its HDU-layout check (what the lean read
  cost before every read checked the layout);
- ``read_arrays`` with the lean reader off (astropy underneath, the same checks);
- ``read_spectrum``: a full :class:`specutils.Spectrum` through astropy.

Usage::

    python bench/readers.py                 # 2,000 synthetic apStar files
    python bench/readers.py --quick         # 300 files
    python bench/readers.py --real ../shared/sdss-data/sas   # also the real apStar/apVisit files
"""

import argparse
import glob
import os
import shutil
import tempfile
import time


def _bare_astropy(path):
    import numpy as np
    from astropy.io import fits

    with fits.open(path) as hdul:
        return [np.atleast_2d(hdul[i].data) for i in (1, 2, 3)]


def _without_lean(path, kind):
    from astra.tools.spectrum import errors, read_arrays

    saved = errors.LEAN_KINDS
    errors.LEAN_KINDS = frozenset()
    try:
        return read_arrays(path, kind)
    finally:
        errors.LEAN_KINDS = saved


def _without_layout_check(path, kind):
    """The lean read as it was before every read checked the HDU layout (for comparison)."""
    from astra.tools.spectrum import errors, read_arrays

    saved = errors._check_quick_layout
    errors._check_quick_layout = lambda hdul, kind, name: None
    try:
        return read_arrays(path, kind)
    finally:
        errors._check_quick_layout = saved


def measure(files, kind, repeat):
    """Best per-file time (ms) of each reader over ``files``."""
    from astra.tools.spectrum import read_arrays, read_spectrum

    readers = {
        "astropy, HDUs 1-3 only": _bare_astropy,
        "read_arrays (lean reader)": lambda p: read_arrays(p, kind),
        "  same, no layout check": lambda p: _without_layout_check(p, kind),
        "read_arrays (astropy)": lambda p: _without_lean(p, kind),
        "read_spectrum (Spectrum)": lambda p: read_spectrum(p, kind),
    }
    if kind != "apStar":
        del readers["astropy, HDUs 1-3 only"]
    best = {name: float("inf") for name in readers}
    for name, read in readers.items():  # warm up: imports, caches
        read(files[0])
    for _ in range(repeat):
        for name, read in readers.items():
            began = time.perf_counter()
            for path in files:
                read(path)
            best[name] = min(best[name], (time.perf_counter() - began) / len(files) * 1e3)
    return best


def report(title, files, kind, repeat):
    best = measure(files, kind, repeat)
    reference = best.get("astropy, HDUs 1-3 only", best["read_arrays (astropy)"])
    print(f"\n# {title}: {len(files)} files, best of {repeat} rounds")
    print(f"{'reader':<28}{'ms/file':>9}{'files/s':>9}{'vs first':>10}")
    print("-" * 56)
    for name, ms in best.items():
        print(f"{name:<28}{ms:>9.3f}{1e3 / ms:>9.0f}{reference / ms:>10.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 files instead of 2,000")
    parser.add_argument("-n", type=int, help="number of synthetic files")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best shown)")
    parser.add_argument("--real", help="a SAS tree of real files (e.g. ../shared/sdss-data/sas)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the synthetic files go (default /dev/shm)")
    args = parser.parse_args()

    from astra.tasks.io.find import find_files
    from astra.tools.synthetic import write_sample_tree

    n = args.n or (300 if args.quick else 2_000)
    sas = tempfile.mkdtemp(prefix="astra-bench-readers-", dir=args.dir)
    try:
        write_sample_tree(sas, n, release="dr13", species="apStar", seed=2, snr=50)
        files = [path for path, _ in find_files("dr13", "apStar", sas)]
        print(f"# readers: {os.cpu_count()} cores, synthetic files under {args.dir} (ms/file: lower is faster; "
              "vs first: speed relative to the first row)")
        report("synthetic apStar, 1 visit (124 kB)", files, "apStar", args.repeat)
        if args.real:
            for kind in ("apStar", "apVisit"):
                real = sorted(glob.glob(os.path.join(args.real, "**", f"{kind}-*.fits"), recursive=True))
                if real:
                    report(f"real {kind} files, each read 50 times", real * 50, kind, args.repeat)
    finally:
        shutil.rmtree(sas, ignore_errors=True)


if __name__ == "__main__":
    main()
