"""The field types, under their old name: this is :mod:`astra.fields` itself.

``from astra.database.fields import FloatField`` still works (the same module object);
new code writes ``from astra.fields import FloatField``.
"""

import sys

from astra import fields as _moved

sys.modules[__name__] = _moved
