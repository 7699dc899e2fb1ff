"""FITS data products (``astra create``).

* :func:`create_product` -- any product by name (:func:`product_is_current`: whether its file
  already holds what it would write): ``astraAllStar<Method>``,
  ``astraAllVisit<Method>``, ``mwmAllStar``, ``mwmAllVisit`` (:mod:`astra.products.named`), or a
  results model's plain summary ``astraAll<Model>`` (:func:`create_summary`);
* :func:`resolve_product` and :func:`product_path` -- what a name means and where its file goes
  (:mod:`astra.products.names`);
* :mod:`astra.products.layout` -- the columns of the named products;
* :mod:`astra.products.fits_table` -- writing one binary table from column arrays, atomically.
"""

from astra.products.named import create_product, product_is_current
from astra.products.names import Product, product_path, resolve_product
from astra.products.summary import create_summary, default_summary_path, product_name

__all__ = ["create_product", "product_is_current", "resolve_product", "product_path", "Product", "create_summary", "default_summary_path",
           "product_name"]
