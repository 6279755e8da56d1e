"""Helpers shared by the dashboard tests (imported from the tests folder, like ttfs_reference)."""

import time


def until(app, cond, timeout=60.0):
    """Tick the app (as the server's periodic callback would) until ``cond()`` holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app._tick()
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached; status: " + app.status_text)
