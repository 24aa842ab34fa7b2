"""The dashboard's JSON API over SQLite and PostgreSQL: every view, the downsampling,
read-only mode, the token and the write endpoints."""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest

pytest.importorskip("starlette", reason="needs the dashboard extra (pip install -e '.[dev]')")
import warnings

import httpx

with warnings.catch_warnings():  # starlette >= 1.x suggests httpx2; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import hypersweep as hs
from hypersweep.cli.dashboard import is_loopback, resolve_token
from hypersweep.dashboard import create_app
from hypersweep.dashboard.data import MAX_POINTS, sample_rows
from hypersweep.storage import open_storage
from tests.dashboard.studies import add_trial, make_multi, make_quad, quad

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def client(url):
    make_quad(url)
    make_multi(url)
    storage = open_storage(url, read_only=True)
    with TestClient(create_app(storage)) as c:
        yield c
    storage.close()


def test_studies_list_counts_best_running(client):
    got = {s["name"]: s for s in client.get("/api/studies").json()["studies"]}
    assert set(got) == {"quad", "multi"}
    q = got["quad"]
    assert q["states"] == {"QUEUED": 0, "RUNNING": 1, "COMPLETED": 35, "STOPPED": 1, "FAILED": 4}
    assert q["trials"] == 41 and q["running"] == 1 and q["state"] == "running"
    assert q["last_activity"] > time.time() - 600
    best = min(
        (quad(t.params), t.number)
        for t in hs.Study.load("quad", client.app_storage).trials()
        if t.state.value == "COMPLETED"
    )
    assert q["best"]["number"] == best[1]
    assert q["best"]["values"][0] == pytest.approx(best[0])
    assert got["multi"]["best"] is None and got["multi"]["pareto_size"] >= 1


@pytest.fixture(autouse=True)
def _storage_on_client(request):
    """Lets a test read the same storage the client's app reads (via ``client``)."""
    if "client" in request.fixturenames:
        c = request.getfixturevalue("client")
        c.app_storage = open_storage(request.getfixturevalue("url"), read_only=True)
        yield
        c.app_storage.close()
    else:
        yield


def test_summary_history_and_best_line(client):
    s = client.get("/api/studies/quad/summary").json()
    assert s["params"] == ["x", "lr", "act", "layers"]
    assert s["n_running"] == 1 and s["running"][0]["step"] == 0
    assert s["running"][0]["latest"] == {"value": 5.0, "loss": 5.0}
    h = client.get("/api/studies/quad/history").json()
    # every finished trial with a value is a point (35 completed + 1 stopped)
    assert h["total"] == 36 and len(h["feasible"]["x"]) == 36
    # the best-so-far line only improves and ends at the best value
    ys = h["best"]["y"]
    assert all(a >= b for a, b in itertools.pairwise(ys))
    assert ys[-1] == pytest.approx(min(h["feasible"]["y"]))
    assert h["best"]["x"][-1] == 40  # runs on to the latest trial


def test_curves_running_first_and_metric_choice(client):
    c = client.get("/api/studies/quad/curves").json()
    assert c["curves"][0]["state"] == "RUNNING" and c["curves"][0]["x"] == [0]
    assert c["metrics"] == ["loss", "value"]
    assert all(k["x"] == [0, 1, 2, 3, 4] for k in c["curves"][1:])
    loss = client.get("/api/studies/quad/curves?metric=loss").json()
    assert loss["metric"] == "loss" and loss["curves"][0]["y"] == [5.0]


def test_points_parallel_axes(client):
    p = client.get("/api/studies/quad/points").json()
    assert p["total"] == 36 and len(p["numbers"]) == 36
    act = p["params"]["act"]
    assert act["kind"] == "category" and act["labels"] == ["relu", "tanh"]
    assert set(act["values"]) <= {0, 1}
    assert p["params"]["x"]["kind"] == "number"
    assert len(p["values"]["value"]) == 36


def test_pareto_front_is_not_dominated(client):
    p = client.get("/api/studies/multi/pareto").json()
    front = p["front"]["values"]
    assert front and p["goals"] == ["minimize", "maximize"]
    for a in p["others"]["values"]:
        assert any(f[0] <= a[0] and f[1] >= a[1] for f in front)
    for f in front:
        assert not any(g[0] < f[0] and g[1] > f[1] for g in front)


def test_table_sort_filter_search_paginate(client):
    t = client.get("/api/studies/quad/trials?sort=value&size=10").json()
    vals = [r["values"]["value"] for r in t["rows"]]
    assert vals == sorted(vals) and t["total"] == 41 and len(t["rows"]) == 10
    t = client.get("/api/studies/quad/trials?sort=value&desc=1&size=100").json()
    with_value = [r["values"]["value"] for r in t["rows"] if r["values"]]
    assert with_value == sorted(with_value, reverse=True)
    assert not t["rows"][-1]["values"]  # trials without a value go last
    failed = client.get("/api/studies/quad/trials?state=FAILED").json()
    assert failed["total"] == 4 and {r["state"] for r in failed["rows"]} == {"FAILED"}
    q = client.get("/api/studies/quad/trials", params={"q": "act=relu x>0"}).json()
    assert q["total"] and all(
        r["params"]["act"] == "relu" and r["params"]["x"] > 0 for r in q["rows"]
    )
    text = client.get("/api/studies/quad/trials", params={"q": "tan"}).json()
    assert text["total"] and all(r["params"]["act"] == "tanh" for r in text["rows"])
    pages = [
        client.get(f"/api/studies/quad/trials?size=15&page={i}").json()["rows"] for i in range(3)
    ]
    assert [r["number"] for p in pages for r in p] == list(range(41))
    by_param = client.get("/api/studies/quad/trials?sort=param:lr&size=500").json()["rows"]
    lrs = [r["params"]["lr"] for r in by_param]
    assert lrs == sorted(lrs)


def test_trial_detail_and_error(client):
    d = client.get("/api/studies/quad/trials/4").json()
    assert d["state"] == "FAILED" and d["error"].startswith("boom 4")
    assert [r["step"] for r in d["reports"]] == [0, 1, 2, 3, 4]
    assert d["command"] is None  # a Python study: nothing to rerun from a shell
    assert client.get("/api/studies/quad/trials/999").status_code == 404
    assert client.get("/api/studies/nope/summary").status_code == 404


def test_export_csv_and_json(client):
    csv = client.get("/api/studies/quad/export.csv")
    assert csv.status_code == 200 and csv.text.count("\n") == 42
    js = client.get("/api/studies/quad/export.json").json()
    assert len(js["trials"]) == 41
    assert client.get("/api/studies/quad/export.exe").status_code == 404


def test_importance_panel_answers(client):
    r = client.get("/api/studies/quad/importance").json()
    try:
        from hypersweep.analysis import importance  # noqa: F401
    except ImportError:
        assert r == {"available": False, "note": r["note"]} and "analysis" in r["note"]
    else:
        assert r["available"] and set(r["importances"]) <= {"x", "lr", "act", "layers"}


def test_plotly_served_locally(client):
    html = client.get("/").text
    assert 'href="static/plotly.min.js"' in html and "http" not in re.sub(
        r"<!--.*?-->", "", html.split("<body>")[0]
    ).replace('name="viewport"', "")
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/../../etc/passwd").status_code == 404


def test_live_watermark_moves_and_views_follow(url):
    s = make_quad(url, n=5, running=0)
    storage = open_storage(url, read_only=True)
    with TestClient(create_app(storage)) as c:
        w0 = c.get("/api/studies/quad/watermark").json()["watermark"]
        assert c.get("/api/studies/quad/watermark").json()["watermark"] == w0  # idle: same
        assert c.get("/api/studies/quad/summary").json()["trials"] == 5
        add_trial(s, 5)
        w1 = c.get("/api/studies/quad/watermark").json()["watermark"]
        assert w1 != w0
        assert c.get("/api/studies/quad/summary").json()["trials"] == 6
        s.stop("enough")
        assert c.get("/api/studies/quad/watermark").json()["watermark"] != w1
        assert c.get("/api/studies/quad/summary").json()["stop_requested"] == "enough"
    storage.close()


def _snapshot(url):
    st = open_storage(url, read_only=True)
    out = []
    for rec in st.list_studies():
        res = st.sync(rec.id, 0)
        out.append((rec, res.watermark, [t.with_(heartbeat_at=None) for t in res.trials]))
    st.close()
    return out


def test_read_only_mode_never_writes(url, tmp_path):
    make_quad(url)
    make_multi(url)
    before = _snapshot(url)
    dump = None
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        dump = list(sqlite3.connect(path).iterdump())
    storage = open_storage(url, read_only=True)
    with TestClient(create_app(storage)) as c:
        for path in [
            "/", "/api/studies", "/api/studies/quad/summary", "/api/studies/quad/history",
            "/api/studies/quad/curves", "/api/studies/quad/points", "/api/studies/multi/pareto",
            "/api/studies/quad/trials?sort=param:x&q=act=relu", "/api/studies/quad/trials/3",
            "/api/studies/quad/export.csv", "/api/studies/quad/importance",
            "/api/studies/quad/watermark",
        ]:  # fmt: skip
            assert c.get(path).status_code == 200, path
        for path in ["/api/studies/quad/stop", "/api/studies/quad/enqueue"]:
            r = c.post(path, json={"params": {"x": 0.0, "lr": 0.01, "act": "relu", "layers": 1}})
            assert r.status_code in (404, 405)
    storage.close()
    assert _snapshot(url) == before
    if dump is not None:
        assert list(sqlite3.connect(url.split(":///", 1)[1]).iterdump()) == dump


def test_token_checked_on_every_request(sqlite_url):
    make_quad(sqlite_url, n=3)
    storage = open_storage(sqlite_url, read_only=True)
    with TestClient(create_app(storage, token="s3cret-token")) as c:
        for path in ["/", "/static/app.js", "/static/plotly.min.js", "/api/studies",
                     "/api/studies/quad/trials/0", "/api/studies/quad/export.csv"]:  # fmt: skip
            assert c.get(path).status_code == 401, path
        assert c.get("/api/studies", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/api/studies", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert c.get("/api/studies", headers={"X-Hypersweep-Token": "s3cret-token"}).is_success
        first = c.get("/?token=s3cret-token")  # the printed URL: sets the cookie
        assert first.status_code == 200 and "hs_token" in first.cookies
        assert c.get("/api/studies").status_code == 200  # the browser's cookie
    storage.close()


def test_loopback_without_token_refuses_other_hosts(sqlite_url):
    make_quad(sqlite_url, n=2)
    with TestClient(create_app(open_storage(sqlite_url, read_only=True))) as c:
        assert c.get("/api/studies").status_code == 200
        assert c.get("/api/studies", headers={"Host": "127.0.0.1:8080"}).status_code == 200
        assert c.get("/api/studies", headers={"Host": "evil.example:8080"}).status_code == 403


def test_writes_need_allow_write_and_the_token_header(sqlite_url):
    make_quad(sqlite_url, n=3, running=0)
    with pytest.raises(hs.HypersweepError, match="token"):
        create_app(open_storage(sqlite_url), allow_write=True)
    storage = open_storage(sqlite_url)
    with TestClient(create_app(storage, token="write-token", allow_write=True)) as c:
        c.get("/?token=write-token")  # the cookie alone must not allow a write
        params = {"x": 0.5, "lr": 0.01, "act": "relu", "layers": 2}
        assert c.post("/api/studies/quad/enqueue", json={"params": params}).status_code == 401
        h = {"X-Hypersweep-Token": "write-token"}
        r = c.post("/api/studies/quad/enqueue", json={"params": params}, headers=h)
        assert r.status_code == 200 and r.json()["state"] == "QUEUED"
        bad = c.post("/api/studies/quad/enqueue", json={"params": {"x": 9}}, headers=h)
        assert bad.status_code == 400 and "error" in bad.json()
        assert c.post("/api/studies/quad/stop", json={}, headers=h).status_code == 200
    s = hs.Study.load("quad", sqlite_url)
    assert s.trials()[-1].state.value == "QUEUED" and s.trials()[-1].params == params
    assert s.attrs["stop_requested"] == "stopped from the dashboard"


def test_sample_rows_bounded_keeps_best_and_is_stable():
    rows = range(100_000)
    import numpy as np

    score = np.random.default_rng(0).normal(size=100_000)
    got = sample_rows(np.arange(100_000), score, MAX_POINTS)
    assert got.size == MAX_POINTS and np.all(np.diff(got) > 0)
    assert int(np.argmin(score)) in got and int(np.argmax(score)) in got
    assert np.array_equal(got, sample_rows(np.arange(100_000), score, MAX_POINTS))
    assert sample_rows(np.arange(10), score[:10], MAX_POINTS).tolist() == list(rows)[:10]


def test_large_study_ships_bounded_charts(sqlite_url):
    from hypersweep.storage import open_storage as op

    st = op(sqlite_url)
    s = hs.Study("big", space={"x": hs.Float(0, 1), "c": hs.Choice(["a", "b"])}, storage=st)
    sid = st.get_study("big").id
    import random

    rnd = random.Random(0)
    for _ in range(5000):
        t = st.create_trial(sid, {"x": rnd.random(), "c": rnd.choice("ab")})
        st.finish_trial(sid, t.id, hs.TrialState.COMPLETED, values=[rnd.random()])
    del s
    with TestClient(create_app(op(sqlite_url, read_only=True))) as c:
        h = c.get("/api/studies/big/history").json()
        assert h["total"] == 5000 and len(h["feasible"]["x"]) == MAX_POINTS
        p = c.get("/api/studies/big/points").json()
        assert len(p["numbers"]) == MAX_POINTS and p["total"] == 5000
        assert len(c.get("/api/studies/big/curves").content) < 100_000
        t = c.get("/api/studies/big/trials?sort=value&size=5").json()
        assert t["rows"][0]["values"]["value"] == min(h["feasible"]["y"] + h["infeasible"]["y"])


def test_cli_beyond_loopback_prints_a_token_and_refuses_without(sqlite_url, tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    assert resolve_token("127.0.0.1", None, False) is None
    assert resolve_token("0.0.0.0", None, False) and resolve_token("127.0.0.1", None, True)
    make_quad(sqlite_url, n=3)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypersweep", "dashboard", "--storage", sqlite_url,
         "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"http://0\.0\.0\.0:(\d+)/\?token=(\S+)", line)
        assert m, line
        port, token = m.group(1), m.group(2)
        assert "read-only" in line
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/api/studies").status_code == 401
        assert httpx.get(f"{base}/").status_code == 401
        r = httpx.get(f"{base}/api/studies", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["studies"][0]["name"] == "quad"
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_missing_sqlite_file_is_one_line(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "hypersweep", "dashboard", "--storage",
         f"sqlite:///{tmp_path / 'none.db'}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert p.returncode == 2 and p.stderr.startswith("error: no studies in") and not p.stdout


def test_json_is_strict(client):
    # NaN / infinity never reach the browser (JSON.parse refuses them)
    for path in ["/api/studies/quad/history", "/api/studies/quad/curves",
                 "/api/studies/quad/summary"]:  # fmt: skip
        text = client.get(path).text
        json.loads(text, parse_constant=lambda c, p=path: pytest.fail(f"{p}: {c}"))


def test_trial_detail_of_a_command_sweep_has_command_and_output_tails(sqlite_url, tmp_path):
    make_quad(sqlite_url, n=2, running=0)
    st = open_storage(sqlite_url)
    sweep = {
        "file": str(tmp_path / "sweep.yaml"),
        "command": "python train.py --lr {lr}",
        "params_as": "args",
        "workdir": str(tmp_path),
    }
    st.update_study(st.get_study("quad").id, attrs={"sweep": sweep})
    run = tmp_path / ".hypersweep" / "runs" / "quad" / "1"
    run.mkdir(parents=True)
    (run / "stdout.log").write_text("".join(f"epoch {i} val=0.{i}\n" for i in range(3000)))
    (run / "stderr.log").write_text("warning: <b>careful</b>\n")
    with TestClient(create_app(open_storage(sqlite_url, read_only=True))) as c:
        d = c.get("/api/studies/quad/trials/1").json()
        lr = d["params"]["lr"]
        assert d["command"].startswith(f"cd {tmp_path} && python train.py --lr ")
        assert repr(lr)[:6] in d["command"]
        out = d["output"]
        assert out["dir"] == str(run) and out["stderr"] == "warning: <b>careful</b>\n"
        assert out["stdout"].endswith("epoch 2999 val=0.2999\n") and len(out["stdout"]) < 8300
        assert c.get("/api/studies/quad/trials/0").json()["output"] == {}  # none on disk


def test_report_html_is_self_contained(sqlite_url, tmp_path):
    make_quad(sqlite_url)
    out = tmp_path / "r" / "quad.html"
    p = subprocess.run(
        [sys.executable, "-m", "hypersweep", "report", "quad", "--storage", sqlite_url,
         "--html", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    html = out.read_text()
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # minus inlined code
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)  # nothing fetched
    assert "static/" not in markup and "<script src" not in markup
    assert html.count("<script>") >= 3 and "Plotly" in html
    embedded = html.split("window.HS_DATA = ", 1)[1].split("</script>", 1)[0]
    data = json.loads(embedded.rstrip("; \n"))
    assert data["rows_total"] == 41 and len(data["rows"]) == 41
    assert data["summary"]["name"] == "quad" and data["history"]["total"] == 36
    assert "<script>alert(1)" not in html  # the error text is escaped inside the JSON


@pytest.mark.parametrize("kind", ["history", "curves", "parallel", "slice", "contour"])
def test_plot_writes_a_chart(sqlite_url, tmp_path, kind):
    from hypersweep.dashboard.plots import figure, write_plot

    make_quad(sqlite_url, n=12)
    st = open_storage(sqlite_url, read_only=True)
    fig = figure(st, "quad", kind)
    assert fig.data and fig.layout.title.text == f"quad: {kind}"
    p = write_plot(fig, tmp_path / f"{kind}.html")
    assert p.stat().st_size > 1_000_000  # plotly.js inlined
    with pytest.raises(hs.HypersweepError, match=r"\.html, \.png or \.svg"):
        write_plot(fig, tmp_path / "x.gif")


def test_plot_cli_pareto_and_unknown_parameter(sqlite_url, tmp_path):
    make_multi(sqlite_url)
    make_quad(sqlite_url, n=5)
    run = [sys.executable, "-m", "hypersweep", "plot"]
    ok = subprocess.run(
        [*run, "multi", "pareto", "--storage", sqlite_url, "-o", str(tmp_path / "p.html")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ok.returncode == 0 and (tmp_path / "p.html").exists(), ok.stderr
    bad = subprocess.run(
        [*run, "quad", "slice", "--params", "nope", "--storage", sqlite_url, "-o",
         str(tmp_path / "s.html")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: plot slice: no parameter 'nope'")
    one = subprocess.run(
        [*run, "quad", "pareto", "--storage", sqlite_url, "-o", str(tmp_path / "q.html")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert one.returncode == 2 and "one objective" in one.stderr


@pytest.mark.parametrize("command", ["dashboard", "report", "plot"])
def test_help_of_the_dashboard_commands(command, capsys):
    from hypersweep import cli

    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"hypersweep {command}" in out
