"""The Cannon (Ness et al. 2015): a data-driven model of stellar spectra, as Astra tasks.

* :mod:`astra.contrib.thecannon.model` -- :class:`CannonModel` on plain arrays (train, save,
  load, fit labels);
* :mod:`astra.contrib.thecannon.tasks` -- :class:`TrainTheCannon` and :class:`TestTheCannon`,
  built on :class:`~astra.contrib.continuum.ContinuumNormalise`.

From the command line::

    luigi --module astra.contrib.thecannon TestTheCannon --release dr13 --apred r6 \\
        --apstar stars --telescope apo25m --field '["120-45", "009+09"]' \\
        --obj '["2M00452143+1634446", "2M17334253-1654573"]' \\
        --training-set training.csv --local-scheduler
"""

from astra.contrib.thecannon.model import FLAGS, CannonModel
from astra.contrib.thecannon.results import TheCannonResult
from astra.contrib.thecannon.tasks import (
    TestTheCannon,
    TestTheCannonToDatabase,
    TrainTheCannon,
    file_hash,
    read_training_set,
    write_training_set,
)

__all__ = [
    "CannonModel",
    "FLAGS",
    "TrainTheCannon",
    "TestTheCannon",
    "TestTheCannonToDatabase",
    "TheCannonResult",
    "read_training_set",
    "write_training_set",
    "file_hash",
]
