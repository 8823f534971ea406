"""Modules the collector loads at their first use rather than at start.

pyarrow (with numpy, which it imports) is about 40 MB of a collector's resident
memory, and an idle collector does not touch it: only ingest, ``/sql`` copies
and exports do. Modules that use it write::

    if TYPE_CHECKING:
        import pyarrow as pa
    else:
        from collector.lazy_modules import pyarrow as pa

so type checkers see the real module and the process imports it on the first
attribute read (``pa.table``). ``tests/collector/test_idle_memory.py`` checks
that a started, idle collector has not loaded it.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["LazyModule", "pyarrow", "pyarrow_compute", "pyarrow_ipc", "pyarrow_parquet"]


class LazyModule(types.ModuleType):
    """Stands for the module ``name``; imports it when an attribute is first read."""

    def __getattr__(self, attr: str) -> Any:
        # Only called for names not yet in this object's namespace. Copying the
        # namespace makes later reads plain attribute lookups, with no import machinery.
        module = _import_parents_first(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


def _import_parents_first(name: str) -> types.ModuleType:
    """``importlib.import_module(name)``, each package above it imported before it.

    pyarrow imports some of its submodules (``pyarrow.ipc``) as it loads. A thread that
    imported such a submodule while another was loading the package took the submodule's
    lock, met the package half loaded, and importlib's deadlock detection gave one of
    them the other's half-initialised module (``ImportError: cannot import name ...
    from partially initialized module 'pyarrow.ipc'``): the writer's first ingest and an
    API thread's first ``/sql`` copy could fail so. Importing the package first waits
    for the thread loading it, holding no submodule's lock meanwhile.
    """
    parts = name.split(".")
    for end in range(1, len(parts)):
        importlib.import_module(".".join(parts[:end]))
    return importlib.import_module(name)


pyarrow = LazyModule("pyarrow")
pyarrow_compute = LazyModule("pyarrow.compute")
pyarrow_ipc = LazyModule("pyarrow.ipc")
pyarrow_parquet = LazyModule("pyarrow.parquet")
