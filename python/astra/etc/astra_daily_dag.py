"""Astra's day as an Apache Airflow DAG, in the shape of SDSS's production DAGs (seed 001).

Every step is a ``BashOperator`` calling an ``astra`` command, so the DAG needs nothing of
Astra in Airflow's own environment: only ``astra`` on the workers' ``PATH`` and Astra's usual
environment (``SAS_BASE_DIR``, ``ASTRA_DATABASE_URL`` or ``ASTRA_OUTPUT_DIR``). Steps:

1. the catalogue: ``astra init``, then ``astra migrate`` of the release's apStar files;
2. the catalogue product ``mwmAllStar``;
3. one task group per pipeline: ``astra srun <method> <Model>`` submits Slurm jobs over the
   spectra without a result and follows them, then ``astra create astraAllStar<Method>``
   writes its product. ``continuum_teff`` reads ``hot_cool``'s classes, so ``hot_cool >>
   continuum_teff`` (as seed 001's ``snowwhite >> corv``).

A second run on the same data does nothing new: ``astra migrate`` finds every file unchanged,
each ``astra srun`` says "N rows, all up to date" and submits no job, and each product is
rewritten with the same rows. Without Slurm, give ``--conf '{"runner": "run"}'`` (``astra
run`` in the worker instead of ``astra srun``).

Install: copy this file into Airflow's ``dags_folder`` (it is also
``python/astra/etc/astra_daily_dag.py`` in Astra's source, and ``etc/astra_daily_dag.py`` in
the installed package's directory). Parameters (``params``, or ``--conf`` of a run):
``release``, ``species``, ``runner`` (``srun`` or ``run``) and ``srun_options``.
"""

import pendulum

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, TaskGroup
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator
    from airflow.utils.task_group import TaskGroup

#: ``astra srun`` (Slurm) or ``astra run`` (this worker) with the options that go with it.
RUNNER = ("astra {{{{ params.runner }}}} {method} {model}"
          "{{% if params.runner == 'srun' %}} {{{{ params.srun_options }}}}{{% endif %}}")


def pipeline(group_id, method, model, product):
    """A task group: run ``method`` over ``model``'s spectra, then write ``product``.

    :param group_id: the group's name in Airflow.
    :param method: a registered ``@task`` name (``astra run --help``) or ``module.function``.
    :param model: the catalogue model it reads.
    :param product: the ``astra create`` product name.
    :returns: the :class:`TaskGroup`.
    """
    with TaskGroup(group_id=group_id) as group:
        BashOperator(
            task_id="star",
            bash_command=RUNNER.format(method=method, model=model),
        ) >> BashOperator(
            task_id="create_all_star_product",
            bash_command=f"astra create {product} --overwrite",
        )
    return group


with DAG(
    dag_id="astra_daily",
    schedule="0 6 * * *",
    start_date=pendulum.datetime(2026, 12, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"release": "dr13", "species": "apStar", "runner": "srun",
            "srun_options": "--elements 2 --max-running 2 --time 01:00:00"},
    tags=["astra"],
) as dag:
    with TaskGroup(group_id="catalogue") as catalogue:
        BashOperator(task_id="init", bash_command="astra init") >> BashOperator(
            task_id="migrate",
            bash_command="astra migrate --release {{ params.release }} --species {{ params.species }} --no-progress",
        )
    all_star = BashOperator(task_id="mwmAllStar", bash_command="astra create mwmAllStar --overwrite")
    rocket = pipeline("Rocket", "snr", "ApogeeCoaddedSpectrumInApStar", "astraAllStarRocketSNR")
    hot_cool = pipeline("HotCool", "hot_cool", "ApogeeCoaddedSpectrumInApStar", "astraAllStarHotCool")
    continuum_teff = pipeline("ContinuumTeff", "astra.contrib.classify.continuum_teff",
                              "ApogeeCoaddedSpectrumInApStar", "astraAllStarContinuumTeff")

    catalogue >> [all_star, rocket, hot_cool]
    hot_cool >> continuum_teff
