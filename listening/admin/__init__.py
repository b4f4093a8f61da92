"""The admin console at /admin: one module per section, found here by their `SECTION`.

A section module defines `SECTION` (a `console.Section`: path, label, order in the navigation)
and `CONTROLLERS` (its route handlers, guarded for admins by the shell); it may define `API`,
handlers the shell mounts with their own guards. Adding a section is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from listening.admin.console import Section


def _section_modules() -> list[Any]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "SECTION", None), Section):
            found.append(module)
    return sorted(found, key=lambda m: (m.SECTION.order, m.SECTION.label))


_MODULES = _section_modules()
SECTIONS: list[Section] = [m.SECTION for m in _MODULES]
ADMIN_HANDLERS: list[Any] = [h for m in _MODULES for h in getattr(m, "CONTROLLERS", [])]
API_HANDLERS: list[Any] = [h for m in _MODULES for h in getattr(m, "API", [])]
