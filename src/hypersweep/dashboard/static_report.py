"""``hypersweep report NAME --html out.html``: one self-contained HTML file of a study.

The file holds the dashboard's own page (the same ``app.js`` and charts), plotly.js
inlined, and the study's views as the dashboard's API would answer them, embedded as
JSON: it opens from disk with no server and no network (attach it to a paper or a
ticket). The table sorts, filters and pages in the browser over the embedded rows
(every trial up to :data:`MAX_ROWS`, the best ones first beyond that).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from hypersweep.storage import Storage

__all__ = ["MAX_ROWS", "build_report", "write_report"]

MAX_ROWS = 20_000  #: table rows embedded at most


def _script(text: str) -> str:
    if "</script" in text.lower():
        raise ValueError("an inlined script holds '</script'")
    return f"<script>{text}</script>"


def _json(data: Any) -> str:
    # no "<" inside the <script> element at all ("</script", "<!--"): in JSON it can
    # only sit in a string, where "\u003c" is the same character
    return json.dumps(data, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def collect(storage: Storage, name: str) -> dict[str, Any]:
    """The API answers the report embeds (the same functions the server calls)."""
    from hypersweep.dashboard.data import Catalog
    from hypersweep.dashboard.extras import importance
    from hypersweep.dashboard.shaping import finite

    catalog = Catalog(storage)
    data = catalog.get(name)
    summary = data.summary()
    with data.lock:
        h = data.study.history
        rows = np.arange(h.n)
        if h.n > MAX_ROWS:  # the best trials, then the latest ones
            best = np.argsort(np.where(np.isnan(h.Y[:, 0]), np.inf, h.Y[:, 0]), kind="stable")
            rows = np.sort(
                np.unique(np.concatenate([best[: MAX_ROWS // 2], rows[-MAX_ROWS // 2 :]]))
            )
        table = [data.row(int(i)) for i in rows]
    out = {
        "studies": {"studies": [o for o in catalog.overview() if o["name"] == name]},
        "summary": summary,
        "history": data.history(),
        "curves": data.curves(),
        "points": data.points(),
        "importance": importance(data, None),
        "rows": table,
        "rows_total": int(summary["trials"]),
        "written_at": time.time(),
    }
    if summary["multi_objective"]:
        out["pareto"] = data.pareto()
    return finite(out)


def build_report(storage: Storage, name: str) -> str:
    """The report's HTML text."""
    from importlib import resources

    from hypersweep.dashboard.app import plotly_js

    static = resources.files("hypersweep.dashboard").joinpath("static")
    html = static.joinpath("index.html").read_text(encoding="utf-8")
    css = static.joinpath("app.css").read_text(encoding="utf-8")
    app = static.joinpath("app.js").read_text(encoding="utf-8")
    config = {"static": True, "study": name, "allowWrite": False}
    data = _json(collect(storage, name))
    html = html.replace('<link rel="stylesheet" href="static/app.css">', f"<style>{css}</style>")
    html = html.replace("/*CONFIG*/{}", _json(config) + ";\nwindow.HS_DATA = " + data)
    html = html.replace(
        '<link rel="preload" href="static/plotly.min.js" as="script">',
        _script(plotly_js().read_text(encoding="utf-8")),
    )
    html = html.replace('<script src="static/app.js" defer></script>', "")
    html = html.replace("</body>", _script(app) + "\n</body>")
    return html


def write_report(storage: Storage, name: str, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(build_report(storage, name), encoding="utf-8")
    return p
