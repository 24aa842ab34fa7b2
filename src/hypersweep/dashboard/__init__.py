"""A read-only web dashboard over a storage: ``hypersweep dashboard``.

It reads the storage only (every process that writes can die and it goes on), keeps
nothing the storage does not hold except caches it rebuilds, and aggregates on the
server so no chart needs every trial shipped to it. Needs the ``dashboard`` extra
(``pip install 'hypersweep[dashboard]'``: Starlette, uvicorn, plotly).

    from hypersweep.dashboard import create_app
    app = create_app(open_storage(url, read_only=True))   # any ASGI server runs it
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See :func:`hypersweep.dashboard.app.create_app`."""
    from hypersweep.dashboard.app import create_app as make

    return make(*args, **kwargs)
