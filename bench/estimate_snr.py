"""EstimateSNR over synthetic apStar files: ``astra run`` against a raw loop.

The raw loop opens each file with astropy, computes the same S/N (the same
:func:`astra.contrib.rocket.estimate_snr` on the same pixels) and writes the same JSON result;
``astra run`` finds the files under the SAS root, batches them and runs ``EstimateSNR`` with
one and with two Luigi workers. A second plain loop reads with Astra's own
:func:`~astra.tools.spectrum.read_arrays` instead of astropy: against it, ``astra run`` shows
what the framework itself costs. Each variant runs in its own process, on its own output
directory, over the same files; the variants take turns, ``--repeat`` times, and the table
gives each one's median (the machine's timing noise is several percent).

Usage::

    python bench/estimate_snr.py            # 10,000 files, 3 rounds
    python bench/estimate_snr.py --quick    # 1,000 files, 1 round (under a minute)
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def raw_loop(sas, out, reader="astropy"):
    """Read every apStar file, compute S/N, write a JSON result per file.

    :param reader: ``"astropy"`` (open each file with astropy) or ``"astra"``
        (:func:`~astra.tools.spectrum.read_arrays`, as EstimateSNR reads).
    """
    import numpy as np
    from astropy.io import fits

    from astra.contrib.rocket import estimate_snr
    from astra.tasks.io.find import find_files
    from astra.tools.spectrum import read_arrays

    files = find_files("dr13", "apStar", sas)
    for i, (path, keys) in enumerate(files):
        if reader == "astra":
            spectrum = read_arrays(path, "apStar")
            flux, ivar, bad = spectrum.flux, spectrum.ivar, spectrum.mask
        else:
            with fits.open(path) as hdul:
                flux = np.atleast_2d(hdul[1].data)
                sigma = np.atleast_2d(hdul[2].data)
                bitmask = np.atleast_2d(hdul[3].data)
            with np.errstate(divide="ignore"):
                ivar = np.where((sigma > 0) & np.isfinite(sigma) & (sigma < 1e9), 1.0 / sigma**2, 0.0)
            bad = (bitmask & 0xFF) > 0
        snr = estimate_snr(flux, ivar, bad, 100)
        directory = os.path.join(out, f"{i % 256:02x}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"{i}-snr.json"), "w") as fp:
            json.dump({"path": path, "keys": keys, "snr": [round(s, 4) for s in snr]}, fp)
    return len(files)


def child(variant, sas, out):
    """Run one variant in this process; print its wall time and peak RSS as JSON."""
    os.environ["ASTRA_OUTPUT_DIR"] = out
    start = time.perf_counter()
    if variant in ("raw", "raw-astra"):
        n = raw_loop(sas, out, reader="astra" if variant == "raw-astra" else "astropy")
    else:
        from astra.cli import main

        workers = "2" if variant == "astra-2" else "1"
        status = main(["run", "astra.contrib.rocket.EstimateSNR", "--release", "dr13", "--species", "apStar",
                       "--sas-base-dir", sas, "--workers", workers, "--max-batch-size", "500"])
        assert status == 0, status
        n = None
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": max(rss, rss_children), "n": n}))


def measure(variant, sas, directory):
    out = tempfile.mkdtemp(prefix=f"astra-bench-snr-{variant}-", dir=directory)
    try:
        result = subprocess.run([sys.executable, __file__, "--child", variant, "--sas", sas, "--out", out],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{variant} failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(out, ignore_errors=True)


VARIANTS = (
    ("raw", "raw loop (astropy)"),
    ("raw-astra", "raw loop (read_arrays)"),
    ("astra-1", "astra run, 1 worker"),
    ("astra-2", "astra run, 2 workers"),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 files and one round")
    parser.add_argument("-n", type=int, help="number of files")
    parser.add_argument("--repeat", type=int, help="rounds of every variant (default 3, 1 with --quick)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the files and outputs go (default /dev/shm)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sas", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.sas, args.out)

    n = args.n or (1_000 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 3)
    from astra.tools.synthetic import write_sample_tree

    sas = tempfile.mkdtemp(prefix="astra-bench-sas-", dir=args.dir)
    try:
        began = time.perf_counter()
        write_sample_tree(sas, n, release="dr13", species="apStar", seed=1, snr=50)
        print(f"# EstimateSNR: {n} synthetic apStar files written in {time.perf_counter() - began:.1f} s "
              f"under {args.dir}; {os.cpu_count()} cores; {repeat} round(s), medians shown")
        runs = {variant: [] for variant, _ in VARIANTS}
        for _ in range(repeat):  # take turns, so slow spells of the machine hit every variant
            for variant, _ in VARIANTS:
                runs[variant].append(measure(variant, sas, args.dir))
        medians = {variant: statistics.median(r["seconds"] for r in results) for variant, results in runs.items()}
        header = (f"{'workload':<26}{'N':>7}{'seconds':>9}{'spectra/s':>11}{'vs raw':>8}"
                  f"{'vs read_arrays loop':>21}{'peak RSS MB':>13}  all rounds (s)")
        print(header)
        print("-" * len(header))
        for variant, label in VARIANTS:
            seconds = medians[variant]
            rss = max(r["rss_mb"] for r in runs[variant])
            rounds = " ".join(f"{r['seconds']:.2f}" for r in runs[variant])
            print(f"{label:<26}{n:>7}{seconds:>9.2f}{n / seconds:>11.0f}{medians['raw'] / seconds:>8.2f}"
                  f"{medians['raw-astra'] / seconds:>21.2f}{rss:>13.0f}  {rounds}")
        print("(vs raw / vs read_arrays loop: throughput relative to that loop; above 1 is faster)")
    finally:
        shutil.rmtree(sas, ignore_errors=True)


if __name__ == "__main__":
    main()
