"""``astra web``: the run dashboard over the results database.

* :mod:`astra.web.app` -- :func:`~astra.web.app.create_app`, the Flask application;
* :mod:`astra.web.views_runs` -- runs and batches, their live logs, the JSON API;
* :mod:`astra.web.views_work` -- starting runs from a form, failed spectra and retries;
* :mod:`astra.web.results` -- results tables, plots and the FITS download;
* :mod:`astra.web.launch` -- the registered tasks, their forms, the ``astra run`` processes;
* :mod:`astra.web.security` -- the access token and CSRF protection;
* :mod:`astra.web.logs` -- reading logs a piece at a time.

Runs are recorded by :mod:`astra.runs` into :mod:`astra.models.run`. Flask is an optional
dependency: ``pip install 'sdss-astra-luigi[web]'``.
"""
