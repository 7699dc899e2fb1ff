"""The Cannon's test step: the model loaded once per batch (ours) against once per spectrum.

Prepared once (not timed): a Cannon model trained on 300 synthetic spectra, saved as ``.npz``,
and N continuum-normalised synthetic apStar spectra (S/N 100) written where
:class:`~astra.contrib.continuum.ContinuumNormalise` puts its outputs, so the test task finds
its inputs complete. Then, each in its own process (so peak RSS is its own):

* ``ours``: ``astra.build`` of :class:`~astra.contrib.thecannon.TestTheCannon` tasks
  (``model_path`` given), batches of 1000: the model is loaded once per batch;
* ``per-spectrum loop``: a plain Python loop that loads the ``.npz`` model for every spectrum,
  then reads the spectrum, fits and writes the same JSON result;
* ``loop, model once``: the plain loop loading the model once (the floor: no Luigi at all).

Usage::

    python bench/thecannon.py            # N = 10,000
    python bench/thecannon.py --quick    # N = 1,000 (under a minute)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

NAMES = ("teff", "logg", "fe_h")
KEYS = dict(release="dr13", apred="r6", apstar="stars", telescope="apo25m", field="bench")


def _objects(n):
    return tuple(f"2M{i:08d}+0000000" for i in range(n))


def prepare(directory, n):
    """Train and save the model; write N normalised spectra at the continuum task's paths."""
    from astropy.io import fits

    from astra.contrib.thecannon import CannonModel
    from astra.targets import atomic_path
    from astra.contrib.continuum import ContinuumNormalise
    from astra.tools import synthetic

    rng = np.random.default_rng(0)
    wavelength = synthetic.apogee_wavelength()
    on_chip = synthetic.apogee_chip_mask(wavelength)
    snr = 100.0

    def spectra(count):
        labels = synthetic.draw_labels(rng, count)
        flux = synthetic.model_flux(wavelength, labels) + rng.normal(0, 1 / snr, (count, wavelength.size))
        ivar = np.where(on_chip, snr**2, 0.0) * np.ones_like(flux)
        return np.where(on_chip, flux, 1.0), ivar, labels

    flux, ivar, labels = spectra(300)
    model = CannonModel(NAMES).train(flux, ivar, [[lab[k] for k in NAMES] for lab in labels])
    model_path = os.path.join(directory, "model.npz")
    with open(model_path, "wb") as fp:
        model.save(fp)
    batch = ContinuumNormalise(**KEYS, obj=_objects(n))
    members = batch.get_batch_tasks()
    for start in range(0, n, 500):
        flux, ivar, _ = spectra(min(500, n - start))
        for f, iv in zip(flux, ivar):
            member = next(members)
            hdus = [fits.PrimaryHDU()] + [
                fits.ImageHDU(np.asarray(a, dtype=np.float32)[None], name=name)
                for name, a in (("FLUX", f), ("IVAR", iv), ("CONTINUUM", np.ones_like(f)))
            ] + [fits.ImageHDU(wavelength, name="WAVELENGTH")]
            with atomic_path(member.output().path) as tmp:
                fits.HDUList(hdus).writeto(tmp)
    return model_path


def run_variant(variant, n, model_path):
    """Run one variant in this process."""
    import astra
    from astra.contrib.thecannon import CannonModel, TestTheCannon
    from astra.targets import atomic_open
    from astra.contrib.continuum import ContinuumNormalise, read_normalised

    if variant == "ours":
        task = TestTheCannon(**KEYS, obj=_objects(n), model_path=model_path)
        summary = astra.build([task], max_batch_size=1000)
        assert summary.done == n and not summary.failed, summary
        return
    output = os.path.join(os.path.dirname(model_path), f"loop-{variant}")
    batch = ContinuumNormalise(**KEYS, obj=_objects(n))
    model = CannonModel.load(model_path) if variant == "loop_once" else None
    for index, member in enumerate(batch.get_batch_tasks()):
        if variant == "loop":
            model = CannonModel.load(model_path)
        spectrum = read_normalised(member.output().path)
        result = model.fit(spectrum.flux[0], spectrum.ivar[0])
        with atomic_open(os.path.join(output, f"{index // 1000}", f"{index}.json"), "w") as fp:
            json.dump(result, fp)


def measure(variant, n, directory, model_path):
    """Run a variant in a fresh process; return (seconds, peak RSS in MB)."""
    env = dict(os.environ, ASTRA_OUTPUT_DIR=os.path.join(directory, "output"))
    args = [sys.executable, __file__, "--variant", variant, "--n", str(n), "--dir", directory, "--model", model_path]
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{variant} failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["rss_mb"]


def clear_results(directory):
    """Remove test outputs so the next variant starts from the same state."""
    for name in os.listdir(directory):
        if name.startswith("loop-"):
            shutil.rmtree(os.path.join(directory, name))
    results = os.path.join(directory, "output", "TestTheCannon")
    shutil.rmtree(results, ignore_errors=True)


def main():
    """Prepare, run every variant, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--variant", default=None)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    if args.variant:
        started = time.perf_counter()
        run_variant(args.variant, args.n, args.model)
        seconds = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "rss_mb": rss}))
        return

    n = args.n or (1000 if args.quick else 10_000)
    directory = tempfile.mkdtemp(prefix="astra-bench-thecannon-", dir=args.dir)
    os.environ["ASTRA_OUTPUT_DIR"] = os.path.join(directory, "output")
    try:
        started = time.perf_counter()
        model_path = prepare(directory, n)
        print(f"# The Cannon test step: {os.cpu_count()} cores; prepared model and {n} spectra in "
              f"{time.perf_counter() - started:.1f} s (not timed below)")
        ours, ours_rss = measure("ours", n, directory, model_path)
        clear_results(directory)
        header = f"{'workload':<44}{'N':>7}{'ours s':>9}{'comparison s':>14}{'ratio':>7}{'peak RSS MB (ours/comp)':>26}"
        print(header)
        print("-" * len(header))
        rows = [("model per spectrum: plain loop", "loop"), ("model once: plain loop (no Luigi)", "loop_once")]
        for label, variant in rows:
            seconds, rss = measure(variant, n, directory, model_path)
            clear_results(directory)
            print(f"{'test step, ours vs ' + label:<44}{n:>7}{ours:>9.2f}{seconds:>14.2f}{seconds / ours:>7.2f}"
                  f"{ours_rss:>13.0f} / {rss:<10.0f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
