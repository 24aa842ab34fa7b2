"""Large studies (issue 18): opening from bulk columns, streaming export, aggregate CLI.

Each test compares the fast path with the slow one it replaces on the same storage
(memory, SQLite, PostgreSQL): the bulk-loaded history against one built trial by trial,
the streamed export against the rows of every trial, ``status``/``best`` against
:meth:`Study.summary` / :attr:`Study.best_trial`.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hypersweep as hs
from hypersweep.cli import main
from hypersweep.history import History
from hypersweep.storage import open_storage
from hypersweep.trial import Objective, Trial, TrialState


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "memory":
        yield "memory"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


SPACE = {
    "a": hs.Float(0, 1),
    "b": hs.Float(1e-3, 1, log=True),
    "n": hs.Int(1, 5),
    "c": hs.Choice(["x", "y"]),
}
FLOATS = {"a": hs.Float(0, 1), "b": hs.Float(-1, 1)}


def _fill(study: hs.Study, n: int = 12) -> None:
    """Trials in every state, with reports (repeated steps too) and user attributes."""
    for i in range(n):
        t = study.ask()
        study.report(t, step=0, loss=float(i))
        study.report(t, step=1, loss=float(i) / 2)
        study.report(t, step=1, acc=0.5)
        if i % 5 == 4:
            study.tell(t, error="boom")
        elif i % 5 == 3:
            study.tell(t, state="STOPPED")
        elif i < n - 1:
            study.set_user_attr(t, "i", i)
            study.tell(t, (i - 5) ** 2 / 7)
    study.enqueue({k: v for k, v in study.trials()[0].params.items()})


def _same_history(a: History, b: History) -> None:
    assert a.n == b.n
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y, b.Y)
    np.testing.assert_array_equal(a.state, b.state)
    np.testing.assert_array_equal(a.valid, b.valid)


@pytest.mark.parametrize("space", [SPACE, FLOATS], ids=["mixed", "floats"])
def test_bulk_load_gives_the_history_a_trial_by_trial_load_gives(url: str, space: Any) -> None:
    writer = hs.Study("big", space=space, storage=url, sampler="random", seed=1)
    _fill(writer)
    storage = writer.storage if url == "memory" else open_storage(url)
    reader = hs.Study("big", storage=storage, sampler="random")
    reader.sync()
    slow = History(reader.space, reader.objectives)
    full = storage.get_trials(reader.id)
    slow.update(full)
    _same_history(reader.history, slow)
    if url != "memory":  # without a policy, a SQL backend leaves the reports for later
        assert reader._cache.reports_until is not None
        assert reader.history.trials[0].reports == {}
    assert reader.trials() == full  # ... and loads them when someone looks
    assert reader.best_trial == writer.best_trial


def test_rows_that_no_longer_fit_an_edited_space_are_invalid(url: str) -> None:
    writer = hs.Study("edit", space=FLOATS, storage=url, sampler="random", seed=2)
    for _ in range(8):
        writer.tell(writer.ask(), 1.0)
    storage = writer.storage if url == "memory" else open_storage(url)
    narrower = {"a": hs.Float(0, 0.5), "b": hs.Float(-1, 1)}
    reader = hs.Study("edit", space=narrower, storage=storage, sampler="random", extend_space=True)
    reader.sync()
    slow = History(reader.space, reader.objectives)
    slow.update(storage.get_trials(reader.id))
    _same_history(reader.history, slow)
    assert 0 < reader.history.valid.sum() < 8


def test_after_a_bulk_load_new_reports_and_trials_arrive_incrementally(url: str) -> None:
    writer = hs.Study("inc", space=FLOATS, storage=url, sampler="random", seed=3)
    old = writer.ask()
    writer.report(old, step=0, loss=3.0)
    writer.tell(writer.ask(), 2.0)
    storage = writer.storage if url == "memory" else open_storage(url)
    reader = hs.Study("inc", storage=storage, sampler="random")
    reader.sync()
    writer.report(old, step=1, loss=2.0)
    writer.report(old, step=0, acc=1.0)  # merges into a step the bulk load left out
    writer.tell(writer.ask(), 1.0)
    mine = reader.ask()
    reader.tell(mine, 0.5)

    def no_hb(ts: list[Any]) -> list[Any]:  # heartbeats do not advance a sync
        return [t.with_(heartbeat_at=None) for t in ts]

    assert no_hb(reader.trials()) == no_hb(storage.get_trials(reader.id))
    assert reader.trials()[0].reports == {0: {"loss": 3.0, "acc": 1.0}, 1: {"loss": 2.0}}
    assert reader.best_trial is not None and reader.best_trial.number == mine.number


def test_tell_stopped_takes_the_last_report_of_a_trial_loaded_in_bulk(url: str) -> None:
    writer = hs.Study("stp", space=FLOATS, objective="loss", storage=url, sampler="random", seed=4)
    t = writer.ask()
    writer.report(t, step=0, loss=3.0)
    writer.report(t, step=1, loss=2.5)
    storage = writer.storage if url == "memory" else open_storage(url)
    reader = hs.Study("stp", storage=storage, sampler="random")
    reader.sync()
    assert reader.tell(t.number, state="STOPPED").values == (2.5,)
    assert reader.trials()[0].last_step == 1


def test_export_streams_the_rows_of_every_trial(url: str, tmp_path: Path) -> None:
    study = hs.Study(
        "exp",
        space=SPACE,
        objective={"metric": "loss", "goal": "maximize"},
        storage=url,
        sampler="random",
        seed=5,
    )
    _fill(study, 9)
    rows = study.rows()
    with study.export(tmp_path / "t.csv").open(newline="", encoding="utf-8") as f:
        got = list(csv.DictReader(f))
    assert len(got) == len(rows) == 10
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    assert list(got[0]) == cols
    for g, r in zip(got, rows):
        for k in cols:
            v = r.get(k)
            if k in ("started_at", "finished_at") and v is not None:
                when = datetime.datetime.fromisoformat(g[k])
                assert when.tzinfo is not None and when.timestamp() == pytest.approx(v)
            else:
                assert g[k] == ("" if v is None else str(v))
    data = json.loads(study.export(tmp_path / "t.json").read_text(encoding="utf-8"))
    assert [t["number"] for t in data["trials"]] == list(range(10))
    assert data["trials"][0]["reports"] == {"0": {"loss": 0.0}, "1": {"loss": 0.0, "acc": 0.5}}
    empty = hs.Study("none", space=SPACE, storage=study.storage)
    assert json.loads(empty.export(tmp_path / "e.json").read_text())["trials"] == []
    assert (tmp_path / "e.json").read_text().endswith('"trials": []\n}\n')


def _cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(list(argv))
    return rc, buf.getvalue()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_status_and_best_from_aggregates_say_what_the_history_says(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    goal: str,
    backend: str,
) -> None:
    u = (
        f"sqlite:///{tmp_path / 'cli.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    study = hs.Study(
        "cli",
        space=SPACE,
        objective={"metric": "loss", "goal": goal},
        storage=u,
        sampler="random",
        seed=6,
    )
    _fill(study, 11)
    expected = study.summary()
    rc, out = _cli("status", "cli", "--storage", u, "--json")
    assert rc == 0
    got = json.loads(out)
    assert got.pop("storage") == u
    # the running trial's time so far grows between the two reads
    assert got.pop("trial_seconds") >= expected.pop("trial_seconds") > 0
    assert got == json.loads(json.dumps(expected))
    rc, out = _cli("status", "cli", "--storage", u)
    assert f"(trial {study.best_trial.number})" in out  # type: ignore[union-attr]
    assert "last failure: trial 9: boom" in out and "state:     running" in out
    rc, out = _cli("best", "cli", "--storage", u, "--json")
    best = json.loads(out)
    assert best["number"] == study.best_trial.number  # type: ignore[union-attr]
    assert best["params"] == study.best_params
    rc, out = _cli("ls", "--storage", u)
    assert out.splitlines()[1].split()[:5] == ["cli", "12", "6", "2", "1"]


def test_multi_objective_best_is_the_front_of_the_history(tmp_path: Path) -> None:
    u = f"sqlite:///{tmp_path / 'mo.db'}"
    study = hs.Study(
        "mo",
        space=FLOATS,
        objective=["a", {"metric": "b", "goal": "maximize"}],
        storage=u,
        sampler="random",
        seed=7,
    )
    for _ in range(30):
        t = study.ask()
        study.tell(t, {"a": t.params["a"], "b": t.params["b"] - t.params["a"] ** 2})
    rc, out = _cli("best", "mo", "--storage", u, "--json")
    assert rc == 0
    assert [t["number"] for t in json.loads(out)] == [t.number for t in study.best_trials]
    rc, out = _cli("status", "mo", "--storage", u)
    assert f"pareto:    {len(study.best_trials)} trials on the front" in out


def test_a_constrained_study_bulk_loads_the_feasibility_a_full_load_gives(url: str) -> None:
    cons = [{"metric": "mem", "max": 1.0}, {"metric": "lat", "min": 0.5}]
    writer = hs.Study(
        "con", space=FLOATS, objective="loss", storage=url, sampler="random", seed=8,
        constraints=cons,
    )  # fmt: skip
    ts = [writer.ask() for _ in range(7)]
    writer.tell(ts[0], {"loss": 1.0, "mem": 0.5, "lat": 0.9})  # returned: feasible
    writer.report(ts[1], step=0, mem=3.0, lat=0.1)
    writer.report(ts[1], step=2, mem=0.2)  # the last report with mem wins ...
    writer.report(ts[1], step=1, lat=0.7)  # ... and lat's is step 1
    writer.tell(ts[1], {"loss": 2.0})
    writer.report(ts[2], step=0, mem=5.0)
    writer.report(ts[2], step=0, mem=0.1, lat=0.6)  # the same step again: the later one
    writer.tell(ts[2], {"loss": 3.0, "lat": 0.2})  # a returned metric beats a report
    writer.tell(ts[3], {"loss": 0.5})  # never reported mem: infeasible
    writer.tell(ts[4], error="boom")
    writer.report(ts[5], step=0, mem=0.3, lat=0.8)  # still RUNNING
    writer.report(ts[6], step=3, **{'m"em': 0.0, "x": 1.0})  # a name like the metric's
    storage = writer.storage if url == "memory" else open_storage(url)
    reader = hs.Study("con", storage=storage, sampler="tpe")
    reader.sync()
    if url != "memory":
        assert reader._cache.reports_until is not None  # bulk-loaded, without the reports

    def full() -> History:
        h = History(reader.space, reader.objectives, constraints=reader.constraints)
        h.update(storage.get_trials(reader.id))
        return h

    _same_history(reader.history, full())
    np.testing.assert_array_equal(reader.history.C, full().C)
    assert reader.best_trial is not None and reader.best_trial.number == 0
    # a trial loaded in bulk finishes without the metric: its earlier report still counts
    writer.report(ts[5], step=1, lat=0.9)
    writer.tell(ts[5], {"loss": 0.1})
    reader.sync()
    np.testing.assert_array_equal(reader.history.C, full().C)
    assert reader.best_trial is not None and reader.best_trial.number == 5
    reader.tell(reader.ask(), {"loss": 5.0, "mem": 0.0, "lat": 1.0})


def test_bulk_encoding_takes_and_rejects_the_rows_the_row_by_row_path_does() -> None:
    from hypersweep.bulkload import encode_param_texts

    space = hs.Space({"a": hs.Float(0, 1), "b": hs.Float(1e-3, 10, log=True), "k": hs.Fixed(1)})
    rows = [
        {"a": 0.25, "b": 0.5, "k": 1},
        {"a": 1, "b": 10, "k": 1},  # ints for floats
        {"a": 0.1 + 0.2, "b": 1e-3, "k": 1.0},
        {"a": True, "b": 0.5, "k": 1},  # a boolean is not a number
        {"a": "0.5", "b": 0.5, "k": 1},  # nor is a string
        {"a": 0.5, "b": 0.5, "k": True},  # fixed to 1, not True
        {"a": 1.5, "b": 0.5, "k": 1},  # out of range
        {"a": 10**400, "b": 0.5, "k": 1},  # no float holds it
        {"a": None, "b": 0.5, "k": 1},
        {"a": 0.5, "k": 1},  # missing
        {"a": 0.5, "b": 0.5, "k": 1, "z": 2},  # unknown
        {"b": 0.5, "a": 0.75, "k": 1},  # another key order
    ]
    texts = [json.dumps(r) for r in rows] + ["[1, 2]", "not json", '{"a": NaN, "b": 1, "k": 1}']
    X, valid = encode_param_texts(space, texts)
    for i, t in enumerate(texts):
        try:
            want = space.encode_many([space.validate(json.loads(t))])[0]
        except Exception:
            assert not valid[i] and np.isnan(X[i]).all(), t
        else:
            assert valid[i], t
            np.testing.assert_array_equal(X[i], want)
    assert valid.tolist()[:4] == [True, True, True, False]


def test_a_sync_batch_is_encoded_as_one_trial_at_a_time_would_be() -> None:
    """History.update checks and encodes a batch of new trials (a sync at many workers)
    column by column: the same rows, valid or not, as one update per trial."""
    space = hs.Space({"a": hs.Float(0, 1), "b": hs.Float(1e-3, 10, log=True), "k": hs.Fixed(1)})
    params = [
        {"a": 0.25, "b": 0.5, "k": 1},
        {"a": 1, "b": 10, "k": 1},
        {"a": True, "b": 0.5, "k": 1},
        {"a": "0.5", "b": 0.5, "k": 1},
        {"a": 1.5, "b": 0.5, "k": 1},
        {"a": 0.5, "k": 1},
        {"a": 0.5, "b": 0.5, "k": 1, "z": 2},
        {"b": 0.5, "a": 0.75, "k": 1},
        {"a": 0.5, "b": 0.5, "k": True},
        {"a": 0.1 + 0.2, "b": 1e-3, "k": 1.0},
    ]
    trials = [Trial(number=i, state=TrialState.RUNNING, params=p) for i, p in enumerate(params)]
    objectives = [Objective("loss")]
    batch, single = History(space, objectives), History(space, objectives)
    batch.update(trials)
    for t in trials:
        single.update([t])
    np.testing.assert_array_equal(batch.X, single.X)
    assert batch.valid.tolist() == single.valid.tolist()
    ok, bad = True, False
    assert batch.valid.tolist() == [ok, ok, bad, bad, bad, bad, bad, ok, ok, ok]


def _held_slow(history: History, params: dict[str, Any]) -> bool:
    """The repeat rule by definition: some trial of the history has the same key."""
    from hypersweep._sequence import config_key

    return any(
        t is not None and config_key(t.params) == config_key(params) for t in history.trials
    )


@pytest.mark.parametrize("bulk", [False, True], ids=["synced", "bulk"])
def test_the_repeat_screen_replaces_exactly_the_proposals_with_a_trial_key(
    tmp_path: Path, bulk: bool
) -> None:
    from hypersweep._sequence import Repeats
    from hypersweep.samplers.base import Proposal

    u = f"sqlite:///{tmp_path / 'rep.db'}"
    space = {"a": hs.Float(0, 1), "b": hs.Float(1e-4, 1, log=True)}
    writer = hs.Study("rep", space=space, storage=u, sampler="random", seed=9)
    ts = [writer.ask() for _ in range(30)]
    for t in ts:
        writer.tell(t, t.params["a"])
    writer.enqueue({"a": 0.0, "b": 1.0})  # a boundary point, QUEUED
    narrower = {"a": hs.Float(0, 0.5), "b": hs.Float(1e-4, 1, log=True)}
    reader = hs.Study("rep", space=narrower, storage=u, sampler="random", extend_space=True)
    if bulk:
        reader.sync()
    else:
        reader._history.update(reader.storage.get_trials(reader.id))
    h = reader.history
    inside = next(t.params for t in ts if t.params["a"] <= 0.5)
    outside = next(t.params for t in ts if t.params["a"] > 0.5)
    near = {"a": float(np.nextafter(inside["a"], 1.0)), "b": inside["b"]}
    cases = [inside, outside, near, {"a": 0.0, "b": 1.0}, {"a": 0.3, "b": 0.01}]
    rep = Repeats(reader.space)
    rng = np.random.default_rng(0)
    for params in cases:
        (out,) = rep.screen([Proposal(dict(params))], h, rng)
        assert (out.params != params) == _held_slow(h, params), params
    assert [_held_slow(h, p) for p in cases] == [True, True, False, True, False]
    # a batch that repeats itself: the second is replaced
    a, b = rep.screen([Proposal(dict(cases[4])), Proposal(dict(cases[4]))], h, rng)
    assert a.params == cases[4] and b.params != cases[4] and not _held_slow(h, b.params)
