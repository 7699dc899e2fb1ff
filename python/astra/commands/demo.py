"""``astra demo``: the main job on the embedded defaults.

Uses the SAS mirror at ``$SAS_BASE_DIR`` when it holds dr13 apStar files; otherwise it writes
a small tree of synthetic apStar files (following the SDSS data model) under the output
directory. Then it runs ``EstimateSNR`` over every apStar file with Luigi's local scheduler and
prints the summary and where the results are.
"""

import os

NAME = "demo"

#: The S/N of the four groups of synthetic spectra the demo writes.
DEMO_SNR = (15, 40, 80, 150)
HELP = "run EstimateSNR over $SAS_BASE_DIR's apStar files, or over generated sample spectra"


def add_arguments(parser):
    """Add this subcommand's arguments.

    :param parser: an :class:`argparse.ArgumentParser`.
    """
    parser.add_argument("-n", type=int, default=200, help="synthetic spectra to generate (default 200)")
    parser.add_argument("--synthetic", action="store_true", help="use generated spectra even if SAS_BASE_DIR is set")
    parser.add_argument("--workers", type=int, default=1, help="Luigi worker processes (default 1)")


def _sas_has_apstar(sas):
    from astra.tasks.io.find import find_files

    try:
        return bool(find_files("dr13", "apStar", sas, limit=1))
    except (ValueError, OSError):
        return False


def run(args):
    """Find or make the spectra, run EstimateSNR, print the summary.

    :param args: parsed arguments.
    :returns: exit status.
    """
    import astra.config
    from astra.contrib.rocket import EstimateSNR
    from astra.runner import run_over_files

    sas = os.environ.get("SAS_BASE_DIR")
    if args.synthetic or not sas or not _sas_has_apstar(sas):
        from astra.tools.synthetic import write_sample_tree

        # One tree per size: a run covers every file in its tree, so sizes must not mix.
        sas = os.path.join(astra.config.get("output_dir"), "demo-sas", str(args.n))
        marker = os.path.join(sas, ".astra-demo-complete")
        if not os.path.exists(marker):
            print(f"writing {args.n} synthetic dr13 apStar files under {sas} ...")
            # Four groups at different S/N, so the results (and their histogram) show a range.
            for group, snr in enumerate(DEMO_SNR):
                count = args.n // len(DEMO_SNR) + (group < args.n % len(DEMO_SNR))
                if count:
                    write_sample_tree(sas, count, release="dr13", species="apStar", seed=42 + group, snr=snr)
            open(marker, "w").close()
        else:
            print(f"using the synthetic apStar files under {sas}")
    else:
        print(f"using the dr13 apStar files under SAS_BASE_DIR={sas}")
    n, summary = run_over_files(EstimateSNR, "dr13", "apStar", workers=args.workers, sas_base_dir=sas)
    print(f"EstimateSNR: {n} spectra; {summary}")
    results = os.path.join(astra.config.get("output_dir"), "EstimateSNR")
    print(f"results (one snr.json per spectrum) are under {results}")
    _plot(results, sas)
    return 0 if summary.success else 1


def _plot(results, sas):
    """A histogram of the S/N of the combined spectra read from ``sas``, when matplotlib is installed."""
    import glob
    import json

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(pip install matplotlib for a histogram of the results)")
        return
    snr = []
    for path in glob.glob(os.path.join(results, "**", "*-snr.json"), recursive=True):
        with open(path) as fp:
            result = json.load(fp)
        if result["path"].startswith(os.path.abspath(sas) + os.sep) and result["snr"][0] is not None:
            snr.append(result["snr"][0])
    if not snr:
        return
    from astra.targets import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(snr, bins=30)
    ax.set_xlabel("S/N of the combined spectrum")
    ax.set_ylabel("spectra")
    ax.set_title(f"EstimateSNR: {len(snr)} spectra")
    fig.tight_layout()
    path = os.path.join(results, "snr-histogram.png")
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format="png", dpi=90)
    plt.close(fig)
    print(f"histogram: {path}")
