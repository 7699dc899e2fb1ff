"""The Cannon (Ness et al. 2015): a data-driven model of stellar spectra, as Astra tasks.

* :mod:`astra.contrib.thecannon.model` -- :class:`CannonModel` on plain arrays (train, save,
  load, fit labels);
* :mod:`astra.contrib.thecannon.method` -- :func:`thecannon`, a ``@task`` over catalogue apStar
  spectra writing :class:`TheCannon` rows (or files, by the ``results_output`` setting)::

      astra run thecannon ApogeeCoaddedSpectrumInApStar --model-path model.npz

* :mod:`astra.contrib.thecannon.tasks` -- :class:`TrainTheCannon` and :class:`TestTheCannon`,
  class-style tasks over data-model keys built on
  :class:`~astra.contrib.continuum.ContinuumNormalise` (one JSON file per spectrum)::

      luigi --module astra.contrib.thecannon TestTheCannon --release dr13 --apred r6 \\
          --apstar stars --telescope apo25m --field '["120-45", "009+09"]' \\
          --obj '["2M00452143+1634446", "2M17334253-1654573"]' \\
          --training-set training.csv --local-scheduler
"""

from astra.contrib.thecannon.model import FLAGS, CannonModel
from astra.contrib.thecannon.results import TheCannon
from astra.contrib.thecannon.tasks import (
    TestTheCannon,
    TestTheCannonToDatabase,
    TrainTheCannon,
    file_hash,
    read_training_set,
    write_training_set,
)
from astra.contrib.thecannon.method import load_model, thecannon

__all__ = [
    "CannonModel",
    "FLAGS",
    "thecannon",
    "load_model",
    "TheCannon",
    "TrainTheCannon",
    "TestTheCannon",
    "TestTheCannonToDatabase",
    "read_training_set",
    "write_training_set",
    "file_hash",
]
