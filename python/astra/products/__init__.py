"""Summary data products: FITS tables of a results table (``astra create``).

See :func:`astra.products.summary.create_summary`.
"""

from astra.products.summary import create_summary, default_summary_path, product_name

__all__ = ["create_summary", "default_summary_path", "product_name"]
