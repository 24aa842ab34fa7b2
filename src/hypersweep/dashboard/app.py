"""The dashboard's web app: a JSON API over :mod:`hypersweep.dashboard.data` and the
static front end (plain JavaScript and plotly.js, served from the installed ``plotly``
package: no network, no build step).

Security (:func:`create_app`):

* with a ``token``, every request must carry it: ``Authorization: Bearer T``, the
  ``X-Hypersweep-Token`` header, ``?token=T`` (which also sets an HttpOnly cookie, so a
  browser opened on the printed URL keeps working) or that cookie;
* without one (a loopback bind), requests whose ``Host`` is not a loopback name are
  refused (a page elsewhere cannot reach the dashboard by DNS rebinding);
* nothing writes unless ``allow_write``; then ``POST .../stop`` and ``POST .../enqueue``
  exist and need the token in a header (never the cookie, so another site's form
  cannot post).
"""

from __future__ import annotations

import hmac
import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from hypersweep.dashboard.data import Catalog, StudyData
from hypersweep.dashboard.shaping import finite
from hypersweep.errors import HypersweepError, StudyNotFound
from hypersweep.storage import Storage

__all__ = ["create_app", "plotly_js"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]", "testserver"}
_STATIC = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "index.html": "text/html",
}


def plotly_js() -> Path:
    """The installed ``plotly`` package's bundled ``plotly.min.js``."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")  # located, not imported (that is slow)
    origin = spec.origin if spec is not None else None
    p = Path(origin or ".").parent / "package_data" / "plotly.min.js"
    if origin is None or not p.is_file():
        raise HypersweepError(
            f"dashboard: {p} is missing; reinstall plotly (pip install 'hypersweep[dashboard]')"
        )
    return p


def _static(name: str) -> bytes:
    return resources.files("hypersweep.dashboard").joinpath("static").joinpath(name).read_bytes()


class _Guard(BaseHTTPMiddleware):
    def __init__(self, app: Any, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    def _given(self, request: Request, header_only: bool) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        if request.headers.get("x-hypersweep-token"):
            return request.headers["x-hypersweep-token"]
        if header_only:
            return None
        return request.query_params.get("token") or request.cookies.get("hs_token")

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        write = request.method not in ("GET", "HEAD")
        if self.token is None:
            host = request.url.hostname or ""
            if host not in _LOOPBACK:
                return JSONResponse({"error": f"host {host!r} refused"}, status_code=403)
        else:
            given = self._given(request, header_only=write)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                return JSONResponse(
                    {"error": "this dashboard needs its token (?token=... or Authorization)"},
                    status_code=401,
                )
        response = await call_next(request)
        if self.token is not None and request.query_params.get("token") == self.token:
            response.set_cookie("hs_token", self.token, httponly=True, samesite="strict")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


def create_app(
    storage: Storage,
    *,
    token: str | None = None,
    allow_write: bool = False,
) -> Starlette:
    """The dashboard app over ``storage`` (open it read-only unless ``allow_write``)."""
    if allow_write and not token:
        raise HypersweepError("dashboard: --allow-write needs a token (writes are checked)")
    catalog = Catalog(storage)

    def study(request: Request) -> StudyData:
        return catalog.get(request.path_params["name"])

    def ok(data: Any) -> JSONResponse:
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    async def index(request: Request) -> Response:
        html = _static("index.html").decode()
        config = {"allowWrite": allow_write}
        html = html.replace("/*CONFIG*/{}", json.dumps(config))
        return Response(html, media_type="text/html")

    async def static(request: Request) -> Response:
        name = request.path_params["file"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript")
        if name not in _STATIC:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(_static(name), media_type=_STATIC[name])

    def studies(request: Request) -> Response:
        return ok({"studies": catalog.overview(), "allow_write": allow_write})

    def summary(request: Request) -> Response:
        return ok(study(request).summary())

    def watermark(request: Request) -> Response:
        return ok({"watermark": catalog.watermark(request.path_params["name"])})

    def history(request: Request) -> Response:
        return ok(study(request).history())

    def curves(request: Request) -> Response:
        return ok(study(request).curves(request.query_params.get("metric") or None))

    def points(request: Request) -> Response:
        return ok(study(request).points())

    def pareto(request: Request) -> Response:
        return ok(study(request).pareto())

    def importance(request: Request) -> Response:
        from hypersweep.dashboard.extras import importance as imp

        return ok(imp(study(request), request.query_params.get("method") or None))

    def trials(request: Request) -> Response:
        q = request.query_params
        states = [s for s in q.get("state", "").split(",") if s]
        return ok(
            study(request).table(
                sort=q.get("sort", "number"),
                desc=q.get("desc", "") in ("1", "true"),
                states=states,
                q=q.get("q", ""),
                page=max(0, int(q.get("page", "0") or 0)),
                size=int(q.get("size", "50") or 50),
            )
        )

    def trial(request: Request) -> Response:
        return ok(study(request).detail(int(request.path_params["number"])))

    def export(request: Request) -> Response:
        data = study(request)
        fmt = request.path_params["fmt"]
        if fmt not in ("csv", "json"):
            raise KeyError(f"export.{fmt}: use export.csv or export.json")
        fd, path = tempfile.mkstemp(suffix=f".{fmt}")
        os.close(fd)
        with data.lock:
            data.study.export(path, fmt)
        return FileResponse(
            path,
            media_type="text/csv" if fmt == "csv" else "application/json",
            filename=f"{data.name}.{fmt}",
            background=BackgroundTask(os.unlink, path),
        )

    async def stop(request: Request) -> Response:
        body = await _body(request)
        data = study(request)
        with data.lock:
            data.study.stop(str(body.get("reason") or "stopped from the dashboard")[:200])
        return ok({"stopped": True})

    async def enqueue(request: Request) -> Response:
        body = await _body(request)
        params = body.get("params")
        if not isinstance(params, dict):
            raise HypersweepError('enqueue: send {"params": {name: value, ...}}')
        data = study(request)
        with data.lock:
            t = data.study.enqueue(params)
        return ok({"number": t.number, "state": t.state.value, "params": finite(t.params)})

    routes = [
        Route("/", index),
        Route("/static/{file}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/studies", studies),
        Route("/api/studies/{name}/summary", summary),
        Route("/api/studies/{name}/watermark", watermark),
        Route("/api/studies/{name}/history", history),
        Route("/api/studies/{name}/curves", curves),
        Route("/api/studies/{name}/points", points),
        Route("/api/studies/{name}/pareto", pareto),
        Route("/api/studies/{name}/importance", importance),
        Route("/api/studies/{name}/trials", trials),
        Route("/api/studies/{name}/trials/{number:int}", trial),
        Route("/api/studies/{name}/export.{fmt:str}", export),
    ]
    if allow_write:
        routes += [
            Route("/api/studies/{name}/stop", stop, methods=["POST"]),
            Route("/api/studies/{name}/enqueue", enqueue, methods=["POST"]),
        ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc) or "not found"}, status_code=404)

    async def bad(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    app = Starlette(
        routes=routes,
        middleware=[Middleware(_Guard, token=token)],
        exception_handlers={
            StudyNotFound: not_found,
            KeyError: not_found,
            IndexError: not_found,
            HypersweepError: bad,
            ValueError: bad,
        },
    )
    return app


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HypersweepError("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise HypersweepError("the request body must be a JSON object")
    return body
