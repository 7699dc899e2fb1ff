#!/usr/bin/env python
"""The Cannon end to end: find apStar files, normalise, train, infer labels, print a summary.

With a SAS tree and a training set of your own::

    python examples/thecannon_example.py --sas $SAS_BASE_DIR --training-set training.csv

Without them, a synthetic dr13 apStar tree (training and test stars with known labels) is
written under the output directory first::

    python examples/thecannon_example.py --n-train 200 --n-test 20 --output /tmp/cannon

The training set is a CSV/FITS table with ``release``, the data-model keys and the label
columns (see :func:`astra.contrib.thecannon.write_training_set`).
"""

import argparse
import json
import os
import time

import numpy as np


def parse_args():
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="thecannon-example", help="output directory (results, synthetic SAS)")
    parser.add_argument("--sas", default=None, help="SAS root with apStar files (needs --training-set)")
    parser.add_argument("--training-set", default=None, help="training-set table for --sas")
    parser.add_argument("--release", default="dr13")
    parser.add_argument("--n-train", type=int, default=200, help="synthetic training stars")
    parser.add_argument("--n-test", type=int, default=20, help="synthetic test stars")
    parser.add_argument("--snr", type=float, default=100.0, help="S/N of the synthetic spectra")
    parser.add_argument("--workers", type=int, default=1)
    return parser.parse_args()


def synthetic_sample(root, release, n_train, n_test, snr):
    """Write a synthetic SAS tree and its training set (once); return (sas, training_set)."""
    from astra.contrib.thecannon import write_training_set
    from astra.tools import synthetic

    sas = os.path.join(root, "sas")
    training_set = os.path.join(root, "training-set.csv")
    if not os.path.exists(training_set):
        train = synthetic.write_sample_tree(sas, n_train, release=release, species="apStar", seed=1, snr=snr)
        write_training_set(training_set, train, train.labels, release=release)
        synthetic.write_sample_tree(sas, n_test, release=release, species="apStar", seed=2, snr=snr)
    return sas, training_set


def true_labels(path):
    """The labels a synthetic file was made with (``None`` for real files)."""
    from astropy.io import fits

    header = fits.getheader(path)
    if "SYN_TEFF" not in header:
        return None
    return {"teff": header["SYN_TEFF"], "logg": header["SYN_LOGG"], "fe_h": header["SYN_FEH"]}


def main():
    """Build the task list, run it with astra.build and print what came out."""
    args = parse_args()
    root = os.path.abspath(args.output)
    os.environ.setdefault("ASTRA_OUTPUT_DIR", os.path.join(root, "astra-output"))
    if args.sas:
        if not args.training_set:
            raise SystemExit("--sas needs --training-set (a table of keys and labels of training stars)")
        sas, training_set = os.path.abspath(args.sas), os.path.abspath(args.training_set)
    else:
        sas, training_set = synthetic_sample(root, args.release, args.n_train, args.n_test, args.snr)
    os.environ["SAS_BASE_DIR"] = sas

    import astra
    import astra.config
    from astra.contrib.thecannon import TestTheCannon, read_training_set
    from astra.tasks.io.find import find_files

    astra.config.reload()
    training_keys, _ = read_training_set(training_set, ("teff", "logg", "fe_h"))
    in_training = {k.get("obj") for k in training_keys}
    found = find_files(args.release, "apStar", sas)
    test = [(path, keys) for path, keys in found if keys.get("obj") not in in_training]
    print(f"{len(found)} apStar files in {sas}; {len(training_keys)} in the training set, {len(test)} to analyse")
    tasks = [TestTheCannon(release=args.release, training_set=training_set, **keys) for _, keys in test]

    started = time.time()
    summary = astra.build(tasks, workers=args.workers)
    print(f"astra.build: {summary} in {time.time() - started:.1f} s")

    rows, differences = [], []
    for (path, keys), task in zip(test, tasks):
        if not task.complete():
            continue
        result = json.load(open(task.output().path))
        truth = true_labels(path)
        rows.append((keys["obj"], result, truth))
        if truth:
            differences.append([result["labels"][n] - truth[n] for n in ("teff", "logg", "fe_h")])
    print(f"\n{'obj':<20} {'teff':>8} {'logg':>6} {'fe_h':>6} {'chi2_r':>7} flags   (true teff logg fe_h)")
    for obj, result, truth in rows[:10]:
        labels = result["labels"]
        line = f"{obj:<20} {labels['teff']:8.0f} {labels['logg']:6.2f} {labels['fe_h']:6.2f} {result['reduced_chi2']:7.2f} {result['flags']:5d}"
        if truth:
            line += f"   ({truth['teff']:.0f} {truth['logg']:.2f} {truth['fe_h']:.2f})"
        print(line)
    if differences:
        rms = np.sqrt(np.mean(np.square(differences), axis=0))
        print(f"\nRMS against the true labels ({len(differences)} stars): "
              f"teff {rms[0]:.1f} K, logg {rms[1]:.3f}, fe_h {rms[2]:.3f}")
    print(f"results under {os.environ['ASTRA_OUTPUT_DIR']}")
    return 0 if summary.success and not summary.failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
