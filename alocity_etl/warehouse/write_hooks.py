"""Points inside a write that a caller may observe (`WriteHooks.reached`); none by default.

A sync passes its hooks down to every warehouse it opens for writing (`Warehouse.open`).
The product sets none. The crash-safety tests pass an object that stops the process at a
phase, so they can kill it there (tests/support/pausing_hooks.py).
"""

from __future__ import annotations

PHASES = ("normalise", "write", "commit")


class WriteHooks:
    def reached(self, phase: str, resource: str) -> None:
        """Called while writing `resource`: "normalise" (pages archived, before they are
        normalised), "write" (tables written, before the commit), "commit" (committed)."""


NO_HOOKS = WriteHooks()
