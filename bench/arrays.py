"""Batches as arrays: rocket's vectorised ``snr_arrays`` beside the per-spectrum ``snr``.

Files: ``n`` synthetic single-visit dr13 apStar files (8,575 pixels) under ``/dev/shm``,
ingested into a catalogue (SQLite in the same directory) by ``astra migrate``.

Variants, taking turns (``--repeat`` rounds; medians):

* **per-spectrum @task** -- ``list(snr(Star.select()))``: the per-spectrum method, each
  spectrum read, measured and written to the results database;
* **per-spectrum, not read ahead** -- the same with ``readahead_threads: 0`` (one thread,
  as the arrays method reads);
* **arrays @task** -- ``list(snr_arrays(Star.select()))``: the same spectra as ``(N, npix)``
  arrays (:func:`astra.core.arrays.array_batches`), measured at once, written the same way;
* **the S/N alone** -- the estimate only, over arrays already in memory: the per-spectrum
  function (:func:`astra.contrib.rocket.estimate_snr`, one call a spectrum) against the
  vectorised one (:func:`astra.contrib.rocket.arrays.batch_snr`, one call a batch).

Usage::

    python bench/arrays.py            # 10,000 spectra, 3 rounds
    python bench/arrays.py --quick    # 10,000 spectra, 1 round (the file build takes a minute)
"""

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))


def _cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def timed(function):
    wall, cpu = time.perf_counter(), _cpu()
    value = function()
    return time.perf_counter() - wall, _cpu() - cpu, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("-n", type=int, default=10_000, help="number of spectra (files)")
    parser.add_argument("--repeat", type=int, help="rounds (default 3, 1 with --quick)")
    args = parser.parse_args()
    rounds = args.repeat or (1 if args.quick else 3)
    work = tempfile.mkdtemp(prefix="astra-bench-arrays-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.environ["ASTRA_DATABASE_URL"] = f"sqlite:///{work}/astra.db"
    os.environ["ASTRA_OUTPUT_DIR"] = os.path.join(work, "out")
    try:
        import numpy as np

        import astra.config
        from astra.cli import main as astra_main
        from astra.contrib.rocket import RocketSNR, RocketSNRArrays, estimate_snr, snr, snr_arrays
        from astra.contrib.rocket.arrays import batch_snr
        from astra.core.arrays import array_batches
        from astra.database.migrations import ensure_table
        from astra.models.apogee import ApogeeCoaddedSpectrumInApStar as Star
        from astra.tools import synthetic

        started = time.perf_counter()
        synthetic.write_sample_tree(os.path.join(work, "sas"), args.n, release="dr13", species="apStar", seed=0,
                                    snr=60, n_visits=1)
        astra_main(["migrate", "--release", "dr13", "--species", "apStar", "--sas-base-dir",
                    os.path.join(work, "sas"), "--no-progress"])
        print(f"{args.n} files written and migrated in {time.perf_counter() - started:.0f} s")
        batches = list(array_batches(list(Star.select())))  # the arrays in memory, for the S/N alone
        rows = [(b.flux[i], b.ivar[i], b.bad[i]) for b in batches for i in range(len(b))]

        def per_spectrum_estimate():
            return [estimate_snr(f, iv, bad, 100)[0] for f, iv, bad in rows]

        def vectorised_estimate():
            return [batch_snr(b.flux, b.ivar, b.bad, 100)[0] for b in batches]

        def per_spectrum_task():
            RocketSNR.delete().execute()
            return len(list(snr(Star.select())))

        def per_spectrum_task_not_ahead():
            os.environ["ASTRA_READAHEAD_THREADS"] = "0"
            astra.config.reload()
            try:
                return per_spectrum_task()
            finally:
                del os.environ["ASTRA_READAHEAD_THREADS"]
                astra.config.reload()

        def arrays_task():
            RocketSNRArrays.delete().execute()
            return len(list(snr_arrays(Star.select())))

        variants = [("per-spectrum @task (snr)", per_spectrum_task),
                    ("per-spectrum, not read ahead", per_spectrum_task_not_ahead),
                    ("arrays @task (snr_arrays)", arrays_task),
                    ("S/N alone, per spectrum", per_spectrum_estimate), ("S/N alone, vectorised", vectorised_estimate)]
        for model in (RocketSNR, RocketSNRArrays):
            ensure_table(model)
        results = {name: [] for name, _ in variants}
        for _ in range(rounds):
            for name, function in variants:
                results[name].append(timed(function)[:2])
        # the two agree
        ours = np.concatenate(vectorised_estimate())
        theirs = np.array(per_spectrum_estimate())
        assert np.allclose(ours, theirs, equal_nan=True), "the vectorised S/N differs"
        print(f"\n{args.n} spectra, {rounds} round(s), medians; batches of {len(batches[0])} "
              f"(array_batch_memory_mb)")
        print(f"load average {os.getloadavg()[0]:.1f} (on a shared machine compare the CPU columns)")
        print("| variant                      | wall s | CPU s | spectra/s | speed-up (wall) | speed-up (CPU) |")
        print("|------------------------------|--------|-------|-----------|-----------------|----------------|")
        base = {}
        for name, _ in variants:
            wall = statistics.median(w for w, _ in results[name])
            cpu = statistics.median(c for _, c in results[name])
            pair = "alone" if name.startswith("S/N alone") else "task"
            base.setdefault(pair, (wall, cpu))
            print(f"| {name:<28} | {wall:6.2f} | {cpu:5.2f} | {args.n / wall:9.0f} | {base[pair][0] / wall:14.2f}x "
                  f"| {base[pair][1] / cpu:13.2f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
