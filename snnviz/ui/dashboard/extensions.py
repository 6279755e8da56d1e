"""The dashboard's extension point: extra tabs and sidebar cards.

An :class:`Extension` contributes a tab in the main area and/or a card in the sidebar, and
is told what happens to the session's run. The Sample inspector and the Weights tab are
extensions themselves (:mod:`.inspector`, :mod:`.weights`). One instance serves one browser
session, so the app takes extension *factories* (a class or any callable returning an
instance) and calls each once per :class:`~snnviz.ui.dashboard.app.TrainingApp`.

Every hook runs on the server's event loop (never in the training thread); an exception in a
hook is logged and shown as a message in the sidebar, it does not break the session. Work that
needs the trainer (its weights, a forward pass) goes through :meth:`TrainingApp.request`,
which runs a function in the training thread between trainer steps and hands its result back
to a callback on the event loop. See docs/dashboard.md ("Extending the dashboard").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import panel as pn

    from snnviz.record import Snapshot
    from snnviz.training.events import Event, RunStart
    from snnviz.ui.dashboard.app import TrainingApp

__all__ = ["Extension", "ExtensionFactory", "register_extension", "registered_extensions",
           "unregister_extension"]


class Extension:
    """Base class of dashboard extensions; override what you need.

    Attributes:
        title: the tab's title (and the card's, by default).
        app: the :class:`TrainingApp` it belongs to (set by :meth:`attach`).
    """

    title: str = ""
    app: TrainingApp | None = None

    def attach(self, app: TrainingApp) -> None:
        """Called once, before :meth:`tab` and :meth:`card`; keep ``app`` for later."""
        self.app = app

    def tab(self) -> pn.viewable.Viewable | None:
        """The tab's content (None: no tab). Called once."""
        return None

    def card(self) -> pn.viewable.Viewable | None:
        """A sidebar card, shown under the run controls (None: no card). Called once."""
        return None

    def on_reset(self) -> None:
        """A new run was prepared from the settings (``app.worker`` may be None when the
        settings are invalid); nothing of it is recorded yet."""

    def on_run(self, run: RunStart) -> None:
        """The new run's :class:`RunStart` was recorded (layer sizes, classes, config)."""

    def on_event(self, event: Event) -> None:
        """Every training event of the run, in order, right after the recorder saw it."""

    def on_refresh(self, snap: Snapshot, visible: bool, force: bool) -> None:
        """A view refresh (up to 10 a second, skipped when the server is busy).

        Args:
            snap: the recorder's current :class:`~snnviz.record.Snapshot`.
            visible: this extension's tab is the open one.
            force: the tab was just opened or a new run started: redraw everything.
        """

    def on_step(self) -> None:
        """The user pressed Step (the step is queued, not yet done)."""

    def close(self) -> None:
        """The session ends; release what you hold."""


ExtensionFactory = Callable[[], Extension]
_REGISTRY: list[ExtensionFactory] = []


def register_extension(factory: ExtensionFactory) -> ExtensionFactory:
    """Add ``factory`` to the extensions every new :class:`TrainingApp` builds (those not
    given an explicit ``extensions`` list). Usable as a class decorator."""
    if factory not in _REGISTRY:
        _REGISTRY.append(factory)
    return factory


def unregister_extension(factory: ExtensionFactory) -> None:
    if factory in _REGISTRY:
        _REGISTRY.remove(factory)


def registered_extensions() -> list[ExtensionFactory]:
    return list(_REGISTRY)


def instantiate(items: Any) -> list[Extension]:
    """Instances from factories (instances pass through)."""
    return [x if isinstance(x, Extension) else x() for x in items]
