"""``hypersweep plot NAME KIND -o FILE``: one chart of a study as a plotly figure, from the
same server-side views as the dashboard (bounded points, whatever the study's size).

``.html`` files are self-contained (plotly.js inlined); ``.png`` / ``.svg`` need plotly's
image export (``pip install kaleido``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypersweep.errors import HypersweepError

if TYPE_CHECKING:
    from hypersweep.storage import Storage

__all__ = ["KINDS", "figure", "write_plot"]

KINDS = ("history", "curves", "parallel", "slice", "contour", "pareto", "importance")


def _axis_title(fig: Any, x: str, y: str) -> None:
    fig.update_layout(xaxis_title=x, yaxis_title=y, template="plotly_white")


def figure(storage: Storage, name: str, kind: str, params: tuple[str, ...] = ()) -> Any:
    """The plotly ``Figure`` of chart ``kind`` (one of :data:`KINDS`) of study ``name``;
    ``params``: the parameter of ``slice`` / the pair of ``contour`` (default: the first)."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    from hypersweep.dashboard.data import Catalog
    from hypersweep.dashboard.extras import importance

    if kind not in KINDS:
        raise HypersweepError(f"plot: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    data = Catalog(storage).get(name)
    metric = data.metrics[0]
    fig = go.Figure()
    if kind == "history":
        h = data.history()
        fig.add_scatter(x=h["feasible"]["x"], y=h["feasible"]["y"], mode="markers", name="trial")
        if h["infeasible"]["x"]:
            fig.add_scatter(
                x=h["infeasible"]["x"], y=h["infeasible"]["y"], mode="markers", name="infeasible"
            )
        fig.add_scatter(
            x=h["best"]["x"], y=h["best"]["y"], mode="lines", line_shape="hv", name="best so far"
        )
        _axis_title(fig, "trial", metric)
    elif kind == "curves":
        c = data.curves()
        for k in c["curves"]:
            width = 3 if k["state"] == "RUNNING" else 1
            fig.add_scatter(x=k["x"], y=k["y"], mode="lines", name=f"#{k['number']}",
                            line_width=width)  # fmt: skip
        _axis_title(fig, "step", c["metric"])
    elif kind == "importance":
        r = importance(data, None)
        if not r["available"]:
            raise HypersweepError(f"plot importance: {r['note']}")
        items = sorted(r["importances"].items(), key=lambda kv: kv[1])
        fig.add_bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h")
        _axis_title(fig, "importance", "")
    elif kind == "pareto":
        if len(data.metrics) < 2:
            raise HypersweepError("plot pareto: the study has one objective")
        p = data.pareto()
        for label, part in (("trials", p["others"]), ("Pareto front", p["front"])):
            vals = part["values"]
            fig.add_scatter(x=[v[0] for v in vals], y=[v[1] for v in vals], mode="markers",
                            name=label, text=[f"#{n}" for n in part["numbers"]])  # fmt: skip
        _axis_title(fig, p["metrics"][0], p["metrics"][1])
    else:
        pts = data.points()
        names = list(pts["params"])
        y = pts["values"][metric]
        if kind == "parallel":
            dims = [_dim(n, pts["params"][n]) for n in names] + [{"label": metric, "values": y}]
            fig.add_parcoords(dimensions=dims, line={"color": y, "colorscale": "Viridis"})
        else:
            chosen = list(params) or names[: 1 if kind == "slice" else 2]
            for n in chosen:
                if n not in pts["params"]:
                    raise HypersweepError(f"plot {kind}: no parameter {n!r}; have {names}")
            if kind == "slice":
                col = pts["params"][chosen[0]]
                fig.add_scatter(x=col["values"], y=y, mode="markers")
                _axis_title(fig, chosen[0], metric)
                _ticks(fig.layout.xaxis, col)
            else:
                if len(chosen) != 2:
                    raise HypersweepError("plot contour: give two parameters (--params A B)")
                cx, cy = pts["params"][chosen[0]], pts["params"][chosen[1]]
                fig.add_contour(x=cx["values"], y=cy["values"], z=y, colorscale="Viridis",
                                connectgaps=True)  # fmt: skip
                dots = {"color": "white", "size": 4}
                fig.add_scatter(x=cx["values"], y=cy["values"], mode="markers",
                                marker=dots, showlegend=False)  # fmt: skip
                _axis_title(fig, chosen[0], chosen[1])
                _ticks(fig.layout.xaxis, cx)
                _ticks(fig.layout.yaxis, cy)
    fig.update_layout(title=f"{name}: {kind}")
    return fig


def _dim(name: str, col: dict[str, Any]) -> dict[str, Any]:
    d: dict[str, Any] = {"label": name, "values": col["values"]}
    if col["kind"] == "category":
        d.update(tickvals=list(range(len(col["labels"]))), ticktext=col["labels"])
    return d


def _ticks(axis: Any, col: dict[str, Any]) -> None:
    if col["kind"] == "category":
        axis.update(tickvals=list(range(len(col["labels"]))), ticktext=col["labels"])
    elif col.get("log"):
        axis.update(type="log")


def write_plot(fig: Any, path: str | Path) -> Path:
    p = Path(path)
    suffix = p.suffix.lower()
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        fig.write_html(str(p), include_plotlyjs=True, full_html=True)
    elif suffix in (".png", ".svg", ".pdf"):
        try:
            fig.write_image(str(p))
        except (ImportError, ValueError, RuntimeError) as e:
            why = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
            raise HypersweepError(
                f"plot: writing {suffix} needs plotly's image export (pip install kaleido)"
                + (f": {why}" if why else "")
            ) from None
    else:
        raise HypersweepError(f"plot: -o {p.name}: use .html, .png or .svg")
    return p
