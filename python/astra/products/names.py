"""Product names: what ``astra create <name>`` writes, and where.

Named products (seed 001's names):

* ``astraAllStar<Method>`` -- a method's results on the catalogue's star-level (combined)
  spectra, one row per source (the rule that picks it: :mod:`astra.products.named`), with the
  catalogue's keys joined on;
* ``astraAllVisit<Method>`` -- the same for its results on visit spectra, one row per result;
* ``mwmAllStar`` and ``mwmAllVisit`` -- the catalogue itself: one star-level spectrum per
  source, or every visit spectrum, with its source's identifiers;
* anything else is a results model's name (or dotted path) and writes the plain summary
  ``astraAll<Model>`` of :mod:`astra.products.summary`.

Which tables are star-level and which visit is each catalogue table's
:attr:`~astra.models.spectrum.SpectrumMixin.spectrum_level`.

``<Method>`` is compared without regard to case, ``_`` or ``-`` with

1. the name of a results model, with or without a ``Result`` suffix (``RocketSNR``; models are
   found as for ``astra create <model>``: the ``result_modules`` setting and the registered
   methods' modules are imported first);
2. the short name of a ``@task`` registered in the ``astra.tasks`` entry-point group
   (``snr``, ``snow_white`` -> ``SnowWhite``).

The name is resolved exactly: it must name one model. A name that no loaded model answers to
is refused with the candidates (a model of yours named ``Rocket`` whose module is not loaded is
never taken for the built-in ``RocketSNR``), and so is a name that two models answer to.

A method that is not registered is given after the prefix as a dotted path instead
(:func:`resolve_product` with ``method="mymethods.mean_snr"``; on the command line
``astra create astraAllStar mymethods.mean_snr``). The file is named after the results model,
whichever spelling found it: ``astraAllStarSnr`` and ``astraAllStarRocketSNR`` both write
``astraAllStarRocketSNR-<major>.<minor>.fits``.
"""

import dataclasses
import importlib
import os

import astra.config
from astra.suggest import did_you_mean
from astra.products.summary import default_summary_path, model_display_name, product_name
from astra.version import version_info
from astra.tasks.function import TaskFunction
from astra.tasks.function_runner import registered_tasks
from astra.database.migrations import import_model_modules, registered_models
from astra.models.pipeline import PipelineOutputMixin
from astra.database import get_model

__all__ = ["Product", "resolve_product", "product_path", "PRODUCT_PREFIXES", "CATALOGUE_PRODUCTS", "LEVELS"]

#: Spectrum levels of the named products.
LEVELS = ("star", "visit")
#: Prefixes of the method products, and the level each holds.
PRODUCT_PREFIXES = {"astraAllStar": "star", "astraAllVisit": "visit"}
#: The catalogue products, and the level each holds.
CATALOGUE_PRODUCTS = {"mwmAllStar": "star", "mwmAllVisit": "visit"}


@dataclasses.dataclass(frozen=True)
class Product:
    """A resolved product name.

    :param name: the product's canonical name (``astraAllStarRocketSNR``, ``mwmAllVisit``,
        ``astraAllEstimateSNR``): the file's base name.
    :param kind: ``"method"`` (astraAllStar/astraAllVisit), ``"catalogue"`` (mwmAll*) or
        ``"summary"`` (a results model's plain summary).
    :param level: ``"star"`` or ``"visit"`` (``None`` for a summary).
    :param model: the results model (``None`` for a catalogue product).
    """

    name: str
    kind: str
    level: object = None
    model: object = None


def _fold(text):
    return str(text).lower().replace("_", "").replace("-", "")


def _camel(name):
    """``snow_white`` -> ``SnowWhite``; a name with capitals is kept as it is."""
    if any(c.isupper() for c in name):
        return name
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def _registered_functions():
    """The registered ``@task`` methods: short name -> TaskFunction (unloadable ones left out)."""
    found = {}
    for name, entry_point in registered_tasks().items():
        try:
            target = entry_point.load()
        except Exception:  # a broken third-party entry point must not break every product
            continue
        function = getattr(target, "task_function", target)
        if isinstance(function, TaskFunction):
            found[name] = function
    return found


def method_aliases():
    """Every spelling of ``<Method>``: a list of ``(spelling, results model)``.

    :returns: results models' names (with and without a ``Result`` suffix), then registered
        task names.
    """
    functions = _registered_functions()  # imports their modules, registering their models
    import_model_modules()
    aliases = [(model_display_name(model), model) for model in registered_models()]
    aliases += [(model.__name__, model) for model in registered_models() if model_display_name(model) != model.__name__]
    aliases += [(_camel(name), function.output_model) for name, function in sorted(functions.items())]
    return aliases


def _method_names(prefix, aliases):
    """``(every spelling, the canonical names)`` of the method products of ``prefix``."""
    pipelines = [(alias, model) for alias, model in aliases if issubclass(model, PipelineOutputMixin)]
    spellings = [f"{prefix}{alias}" for alias, _ in pipelines]
    canonical = sorted({f"{prefix}{model_display_name(model)}" for _, model in pipelines})
    return spellings, canonical


def _method_model(prefix, spelling):
    """The one results model that ``<prefix><spelling>`` names.

    :raises LookupError: when no loaded model answers to the spelling (with a "did you mean",
        the known products and how to load a model of one's own), or when several do (naming
        each with its own product name).
    """
    aliases = method_aliases()
    matches = list(dict.fromkeys(model for alias, model in aliases if _fold(alias) == _fold(spelling)))
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = "; ".join(f"{_dotted(m)} (astra create {prefix}{model_display_name(m)})" for m in matches)
        raise LookupError(f"{prefix}{spelling} is ambiguous: {len(matches)} models answer to {spelling!r}: {names}")
    spellings, canonical = _method_names(prefix, aliases)
    raise LookupError(
        f"no loaded results model is named {spelling!r} for {prefix}{spelling}"
        f"{did_you_mean(prefix + spelling, spellings)}; known: {', '.join(canonical) or 'none'}. "
        f"A model of yours: list its module in result_modules (astra config), or name the method: "
        f"astra create {prefix} mymodule.my_task"
    )


def _dotted(model):
    return f"{model.__module__}.{model.__qualname__}"


def _dotted_model(dotted):
    """The results model of a dotted ``@task`` method or results model."""
    module_name, _, attribute = dotted.rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        return get_model(dotted)  # its error names what is missing
    function = getattr(target, "task_function", target)
    if isinstance(function, TaskFunction):
        return function.output_model
    return get_model(dotted)


def _check_method_model(model, prefix):
    if not (isinstance(model, type) and issubclass(model, PipelineOutputMixin)):
        raise LookupError(
            f"{model.__name__} rows are keyed by task, not by catalogue spectrum, so {prefix} cannot join "
            f"the catalogue onto them; write its plain summary with: astra create {model.__name__}"
        )


def resolve_product(name, method=None):
    """The :class:`Product` that ``name`` names.

    :param name: ``astraAllStar<Method>``, ``astraAllVisit<Method>``, ``mwmAllStar``,
        ``mwmAllVisit`` (prefixes compared without regard to case), or a results model's name or
        dotted path (a plain summary).
    :param method: the method of ``astraAllStar``/``astraAllVisit`` given apart: a dotted path
        (``"mymethods.mean_snr"``: a ``@task`` or a results model), a registered name, a
        :class:`~astra.tasks.function.TaskFunction` or a results model class.
    :raises LookupError: naming what could not be found (with a "did you mean").
    """
    text = str(name).strip()
    for product, level in CATALOGUE_PRODUCTS.items():
        if text.lower() == product.lower():
            if method is not None:
                raise LookupError(f"{product} is built from the catalogue; it takes no method (given {method!r})")
            return Product(product, "catalogue", level)
    for prefix, level in PRODUCT_PREFIXES.items():
        if not text.lower().startswith(prefix.lower()):
            continue
        rest = text[len(prefix):]
        if method is not None and rest:
            raise LookupError(f"give the method once: {prefix}{rest} or {prefix} with method {method!r}")
        if method is None and not rest:
            raise LookupError(f"{prefix} needs a method: {prefix}<Method> (e.g. {prefix}RocketSNR)")
        if method is None:
            model = _method_model(prefix, rest)
        elif isinstance(method, TaskFunction):
            model = method.output_model
        elif isinstance(method, type):
            model = method
        elif "." in str(method):
            model = _dotted_model(str(method))
        else:
            model = _method_model(prefix, str(method))
        _check_method_model(model, prefix)
        return Product(f"{prefix}{model_display_name(model)}", "method", level, model)
    if "." not in text:
        _registered_functions()  # the registered methods' results models are known by name too
    try:
        model = get_model(text)
    except LookupError as error:
        if "." in text:
            raise
        aliases = method_aliases()
        names = list(CATALOGUE_PRODUCTS) + [n for prefix in PRODUCT_PREFIXES for n in _method_names(prefix, aliases)[0]]
        raise LookupError(f"{error}{did_you_mean(text, names)}") from None
    return Product(product_name(model), "summary", None, model)


def product_path(product, release=None):
    """The default path of a product: ``<output_dir>/products/[<release>/]<name>-<major>.<minor>.fits``.

    A product of one release (``release="dr17"``) goes in that release's directory, so the
    products of several releases do not replace each other; a plain summary keeps its path
    (:func:`~astra.products.summary.default_summary_path`).

    :param product: a :class:`Product` (or a name for :func:`resolve_product`).
    :param release: the one release the product holds, if it holds one.
    """
    if not isinstance(product, Product):
        product = resolve_product(product)
    if product.kind == "summary":
        return default_summary_path(product.model)
    major, minor = version_info()
    parts = [astra.config.get("output_dir"), "products"]
    if release:
        parts.append(str(release))
    return os.path.join(*parts, f"{product.name}-{major}.{minor}.fits")
