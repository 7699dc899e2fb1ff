"""``astra demo``: the main job on the embedded defaults.

Uses the SAS mirror at ``$SAS_BASE_DIR`` when it holds dr13 apStar files; otherwise it writes
a small tree of synthetic apStar files (following the SDSS data model) under the output
directory. Then it runs ``EstimateSNR`` over every apStar file with Luigi's local scheduler,
prints the summary and where the results are, and draws a histogram of the measured S/N (with
the injected S/N of synthetic spectra marked) as ``snr-histogram.png`` beside the results.
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
    from astra.cli import positive_int

    parser.add_argument("-n", type=positive_int, default=200, help="synthetic spectra to generate (default 200)")
    parser.add_argument("--synthetic", action="store_true", help="use generated spectra even if SAS_BASE_DIR is set")
    parser.add_argument("--workers", type=positive_int, default=1, help="Luigi worker processes (default 1)")


def _sas_has_apstar(sas):
    from astra.datamodels.find import find_files

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
    synthetic = args.synthetic or not sas or not _sas_has_apstar(sas)
    if synthetic:
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
    print("  one star's: astra find astra.contrib.rocket.EstimateSNR --release dr13 "
          f"--sas-base-dir {sas} --obj <APOGEE_ID>")
    histogram = _plot(results, sas, injected=DEMO_SNR if synthetic else ())
    if histogram:
        print(f"histogram of the measured S/N{' (injected S/N marked)' if synthetic else ''}: {histogram}")
    return 0 if summary.success else 1


def _plot(results, sas, injected=()):
    """Draw the histogram of the measured S/N of the spectra read from ``sas``; return its path.

    :param results: the directory of EstimateSNR's results.
    :param sas: the SAS root the spectra came from (other results there are left out).
    :param injected: the S/N the synthetic spectra were made with, marked on the picture.
    :returns: the PNG's path, or ``None`` when there is no result to draw.
    """
    import glob
    import json

    from astra.targets import atomic_path

    snr = []
    for path in glob.glob(os.path.join(results, "**", "*-snr.json"), recursive=True):
        with open(path) as fp:
            result = json.load(fp)
        if result["path"].startswith(os.path.abspath(sas) + os.sep) and result["snr"][0] is not None:
            snr.append(result["snr"][0])
    if not snr:
        return None
    fig = histogram_figure(snr, injected)
    path = os.path.join(results, "snr-histogram.png")
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format="png", dpi=90)
    return path


def histogram_figure(snr, injected=()):
    """The histogram of measured S/N, with each injected S/N a dashed line, counts in whole numbers.

    :param snr: the measured S/N values.
    :param injected: S/N values to mark (those the synthetic spectra were made with).
    :returns: a :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure  # no pyplot: no display or global state needed
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    counts, _, _ = ax.hist(snr, bins=30, color="tab:blue", label="measured")
    ax.set_ylim(0, max(counts.max() * 1.25, 1))  # room for the legend above the bars
    for i, value in enumerate(injected):
        ax.axvline(value, color="tab:red", linestyle="--", linewidth=1, label="injected" if i == 0 else None)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of spectra are whole numbers
    ax.set_xlabel("S/N of the combined spectrum")
    ax.set_ylabel("spectra")
    ax.set_title(f"EstimateSNR: {len(snr)} spectra")
    if injected:
        ax.legend(loc="upper center", ncols=2)
    fig.tight_layout()
    return fig
