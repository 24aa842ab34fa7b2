"""Studies the dashboard tests (API and browser) look at."""

from __future__ import annotations

import hypersweep as hs

SPACE = {
    "x": hs.Float(-2, 2),
    "lr": hs.Float(1e-4, 1e-1, log=True),
    "act": hs.Choice(["relu", "tanh"]),
    "layers": hs.Int(1, 4),
}


def quad(params: dict) -> float:
    return (params["x"] - 1) ** 2 + 0.1 * params["layers"] + (params["act"] == "tanh") * 0.5


def make_quad(url: str, n: int = 40, name: str = "quad", running: int = 1) -> hs.Study:
    """``n`` finished trials (every 9th FAILED, one STOPPED), each with 5 reports of
    ``value`` and ``loss``, plus ``running`` RUNNING trials with one report."""
    s = hs.Study(name, space=SPACE, storage=url, seed=0, sampler="random")
    for i in range(n):
        add_trial(s, i)
    for _ in range(running):
        t = s.ask()
        s.report(t, step=0, value=5.0, loss=5.0)
    return s


def add_trial(s: hs.Study, i: int) -> None:
    t = s.ask()
    v = quad(t.params)
    for step in range(5):
        s.report(t, step=step, value=v + 1.0 / (step + 1), loss=v * 2 + 1.0 / (step + 1))
    if i % 9 == 4:
        s.tell(t, error=f"boom {i}: <script>alert(1)</script>")
    elif i == 6:
        s.tell(t, state="STOPPED")
    else:
        s.tell(t, {"value": v, "loss": v * 2})


def make_multi(url: str, n: int = 25) -> hs.Study:
    m = hs.Study(
        "multi",
        space={"x": hs.Float(0, 1), "y": hs.Float(0, 1)},
        objective=[hs.Objective("error"), hs.Objective("speed", "maximize")],
        storage=url,
        seed=1,
        sampler="random",
    )
    for _ in range(n):
        t = m.ask()
        m.tell(t, [t.params["x"] + 0.1 * t.params["y"], t.params["x"] ** 2 + t.params["y"]])
    return m
