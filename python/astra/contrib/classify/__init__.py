"""A classifier and a method downstream of it: the example of a pipeline of pipelines.

* :func:`hot_cool` writes a :class:`HotCool` row per spectrum: "hot" or "cool" from the slope
  of the continuum;
* :func:`continuum_teff` runs only on the spectra classed "hot" and writes a
  :class:`ContinuumTeff` row each: the temperature of the best-fitting black body. When a
  spectrum's :class:`HotCool` result is rewritten, ``astra run`` fits that spectrum again.

::

    astra run astra.contrib.classify.hot_cool ApogeeCoaddedSpectrumInApStar
    astra run astra.contrib.classify.continuum_teff ApogeeCoaddedSpectrumInApStar
    luigi --module astra.contrib.classify continuum_teff --spectrum-pk 7 --local-scheduler

See "Downstream methods" in docs/writing-tasks.rst.
"""

from astra.contrib.classify import tasks as _tasks
from astra.contrib.classify.results import ContinuumTeff, HotCool
from astra.contrib.classify.tasks import *  # noqa: F401,F403

__all__ = list(_tasks.__all__) + ["HotCool", "ContinuumTeff"]
