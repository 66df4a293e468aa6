"""What runs at the end of every import, in its transaction: areas that keep values derived
from the store (the KPI values) register here, so events/ need not know them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from sqlalchemy.orm import Session

from qmm.events.store import EventStore
from qmm.models import ImportBatch

#: Called with the session, the store and the batches just written (flushed, not committed).
AfterImport = Callable[[Session, EventStore, Sequence[ImportBatch]], object]

_HOOKS: Final[dict[str, AfterImport]] = {}


def register_after_import(name: str, hook: AfterImport) -> None:
    """Run HOOK at the end of every import; registering a name again replaces its hook."""
    _HOOKS[name] = hook


def after_import(session: Session, store: EventStore, batches: Sequence[ImportBatch]) -> None:
    """Run every registered hook: a hook that fails fails the import, which stores nothing."""
    if not batches:
        return
    for hook in list(_HOOKS.values()):
        hook(session, store, batches)
