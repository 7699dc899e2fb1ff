"""Writing synthetic apStar files: ``write_sample_tree`` against plain astropy ``writeto``.

Both write the same files (the same HDUs, headers and arrays, read back from one file that
``write_apstar`` made) into a fresh directory, N files each, in alternating turns; the table
gives the median of the turns. Moved here from the test suite: timings are never asserted in
tests (the old test allowed 5 ms per file).

Usage::

    python bench/synthetic.py           # N = 2,000 files, 3 turns
    python bench/synthetic.py --quick   # N = 300 files, 3 turns (well under a minute)
"""

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time

from astropy.io import fits

from astra.tools import synthetic


def _ours(directory, n):
    started = time.perf_counter()
    keys = synthetic.write_sample_tree(directory, n, release="dr13", species="apStar", seed=0)
    elapsed = time.perf_counter() - started
    assert len(keys) == n
    return elapsed


def _astropy(directory, n, hdus):
    os.makedirs(directory)
    started = time.perf_counter()
    for i in range(n):
        fits.HDUList([hdu.copy() for hdu in hdus]).writeto(os.path.join(directory, f"apStar-r6-{i:06d}.fits"))
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 files per turn")
    parser.add_argument("-n", type=int, help="files per turn (default 2,000; 300 with --quick)")
    parser.add_argument("--turns", type=int, default=3, help="turns of each variant (default 3)")
    args = parser.parse_args()
    n = args.n or (300 if args.quick else 2000)
    root = tempfile.mkdtemp(prefix="astra-bench-synthetic-")
    try:
        template = os.path.join(root, "template.fits")
        synthetic.write_apstar(template, seed=0)
        with fits.open(template) as hdul:
            hdus = [hdu.copy() for hdu in hdul]
            for hdu in hdus:
                if hdu.data is not None:
                    hdu.data = hdu.data.copy()
        ours, theirs = [], []
        for turn in range(args.turns):
            ours.append(_ours(os.path.join(root, f"ours-{turn}"), n))
            theirs.append(_astropy(os.path.join(root, f"astropy-{turn}"), n, hdus))
            shutil.rmtree(os.path.join(root, f"ours-{turn}"))
            shutil.rmtree(os.path.join(root, f"astropy-{turn}"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ours_ms, theirs_ms = statistics.median(ours) / n * 1e3, statistics.median(theirs) / n * 1e3
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'workload':<34} {'N':>6} {'ours ms/file':>13} {'astropy ms/file':>16} {'ratio':>6} {'peak RSS MB':>12}")
    print(f"{'write apStar files (median of ' + str(args.turns) + ')':<34} {n:>6} {ours_ms:>13.2f} {theirs_ms:>16.2f} "
          f"{ours_ms / theirs_ms:>6.2f} {rss:>12.0f}")


if __name__ == "__main__":
    main()
