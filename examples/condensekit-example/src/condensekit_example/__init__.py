"""An example third-party condensekit plugin package.

The hooks live in :mod:`condensekit_example.plugin`, which the ``condensekit`` entry point names. Nothing
here imports torch at import time: condensekit loads every plugin when its CLI starts.
"""

from __future__ import annotations

__version__ = "0.1.0"
