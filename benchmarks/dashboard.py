"""The dashboard at scale: first paint and API times of a 100k-trial study vs a 1k one,
next to optuna-dashboard on the same trials held in Optuna's storage.

The studies are the ones ``benchmarks/large.py`` builds (10 float parameters, 5 reports
per trial, ~1 % FAILED, 3 RUNNING; hypersweep's written in bulk at the SQL level in the
rows its API writes, Optuna's with ``add_trials``), in SQLite files under ``--workdir``
(reused by later runs).

For each size and each dashboard, a fresh server process is started on the study's
storage and a headless Chromium (Debian's ``chromium``) opens the study page:

* ``first paint``: from navigation to the study's summary on screen (hypersweep:
  ``#summary`` filled; optuna-dashboard: its first chart drawn) — a cold server, so the
  server's first read of the study is included;
* ``charts``: to every chart drawn (hypersweep: every ``data-rendered``; optuna-dashboard:
  network idle with a plot present);
* ``reload``: the same page again on the now warm server;
* the API: each endpoint's median wall time over ``--repeat`` calls on the warm server
  (hypersweep: summary, history, curves, points, a table page sorted by value, the
  watermark; optuna-dashboard: ``/api/studies/ID`` with every trial, what its page loads).

Usage::

    python benchmarks/dashboard.py                          # 1k and 100k, both dashboards
    python benchmarks/dashboard.py --sizes 1000,10000 --no-optuna

Results: ``benchmarks/results/dashboard.json`` and a table on stdout with the 100k/1k
ratios. Wall times on a shared machine: read them next to the load it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import large  # noqa: E402  (the studies of benchmarks/large.py)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HS_API = [
    "summary",
    "history",
    "curves",
    "points",
    "trials?sort=value&size=50",
    "trials?state=FAILED&size=50",
    "watermark",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[Any], timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout} s")


#: an API call that takes longer is recorded as ``None`` (timed out) and not repeated
API_TIMEOUT = 300.0


def _get(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=API_TIMEOUT) as r:
        r.read()
    return time.perf_counter() - t0


def _median(url: str, repeat: int) -> float | None:
    """The median wall time of ``repeat`` calls; one call when it takes over 10 s (a
    dashboard that ships every trial of a large study); ``None`` past API_TIMEOUT."""
    times: list[float] = []
    for _ in range(repeat):
        try:
            times.append(_get(url))
        except OSError:  # timed out (socket.timeout is an OSError)
            return None
        if times[-1] > 10:
            break
    return statistics.median(times)


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:  # busy serving a request that never ends
        proc.kill()
        proc.wait(30)


def _browser(p: Any) -> Any:
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


def measure_hs(url: str, n: int, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypersweep", "dashboard", "--storage", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    name = large.study_name(n)
    try:
        _wait_http(f"{base}/favicon.ico", proc)
        out: dict[str, Any] = {"dashboard": "hypersweep", "n": n}
        with sync_playwright() as p:
            b = _browser(p)
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(600_000)
            for label in ("cold", "warm"):
                t0 = time.perf_counter()
                page.goto(f"{base}/?poll=600000#/study/{name}")
                page.wait_for_function("() => document.querySelector('#summary b') !== null")
                paint = time.perf_counter() - t0
                page.wait_for_function(
                    "() => ['c-history','c-curves','c-parallel','c-slice','c-pair','trials']"
                    ".every(i => document.getElementById(i)?.dataset.rendered === '1')"
                )
                out[f"first_paint_{label}_s"] = paint
                out[f"charts_{label}_s"] = time.perf_counter() - t0
                page.goto("about:blank")
            b.close()
        for ep in HS_API:
            out[f"api {ep}"] = _median(f"{base}/api/studies/{name}/{ep}", repeat)
        out["api studies list"] = _median(f"{base}/api/studies", repeat)
        return out
    finally:
        _stop(proc)


def measure_optuna(url: str, n: int, repeat: int) -> dict[str, Any] | None:
    if shutil.which("optuna-dashboard") is None:
        return None
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = subprocess.Popen(
        ["optuna-dashboard", url, "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/api/studies", proc)
        studies = json.loads(urllib.request.urlopen(f"{base}/api/studies").read())[
            "study_summaries"
        ]
        sid = next(s["study_id"] for s in studies if s["study_name"] == large.study_name(n))
        out: dict[str, Any] = {"dashboard": "optuna-dashboard", "n": n}
        with sync_playwright() as p:
            b = _browser(p)
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(600_000)
            for label in ("cold", "warm"):
                t0 = time.perf_counter()
                page.goto(f"{base}/dashboard/studies/{sid}")
                page.wait_for_selector(".js-plotly-plot, .main-svg")
                out[f"first_paint_{label}_s"] = time.perf_counter() - t0
                page.wait_for_load_state("networkidle")
                out[f"charts_{label}_s"] = time.perf_counter() - t0
                print(json.dumps(out), file=sys.stderr, flush=True)
                page.goto("about:blank")
            b.close()
        out["api study (every trial)"] = _median(f"{base}/api/studies/{sid}?after=0", repeat)
        out["api studies list"] = _median(f"{base}/api/studies", repeat)
        return out
    finally:
        _stop(proc)


def table(results: list[dict[str, Any]], sizes: list[int]) -> str:
    lo, hi = min(sizes), max(sizes)
    lines = [f"{'dashboard / measure':48} {lo:>10} {hi:>10} {'ratio':>7}"]
    for dash in ("hypersweep", "optuna-dashboard"):
        by_n = {r["n"]: r for r in results if r["dashboard"] == dash}
        if lo not in by_n or hi not in by_n:
            continue
        for k in by_n[hi]:
            if k in ("dashboard", "n") or k not in by_n[lo]:
                continue
            a, b = by_n[lo][k], by_n[hi][k]
            if a is None or b is None:
                cell = lambda v: f"{'timeout':>10}" if v is None else f"{v:10.3f}"  # noqa: E731
                lines.append(f"{dash + ' ' + k:48} {cell(a)} {cell(b)} {'':>7}")
                continue
            lines.append(f"{dash + ' ' + k:48} {a:10.3f} {b:10.3f} {b / max(a, 1e-9):7.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "hs-dashboard"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument(
        "--optuna-sizes",
        default=None,
        help="sizes that also get optuna-dashboard (default: every size)",
    )
    ap.add_argument("--out", default=str(HERE / "results" / "dashboard.json"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for n in sizes:
        hs_url = f"sqlite:///{work / f'hs-{n}.db'}"
        built = large.hs_bulk_build(hs_url, n)
        print(f"hypersweep study of {n} trials: built in {built:.1f} s", file=sys.stderr)
        results.append(measure_hs(hs_url, n, args.repeat))
        print(json.dumps(results[-1]), file=sys.stderr)
        op_sizes = (
            sizes
            if args.optuna_sizes is None
            else [int(x) for x in args.optuna_sizes.split(",") if x]
        )
        if not args.no_optuna and n in op_sizes and shutil.which("optuna-dashboard"):
            op_url = f"sqlite:///{work / f'optuna-{n}.db'}"
            built = large.optuna_build(op_url, n)
            print(f"optuna study of {n} trials: built in {built:.1f} s", file=sys.stderr)
            r = measure_optuna(op_url, n, args.repeat)
            if r:
                results.append(r)
                print(json.dumps(r), file=sys.stderr)
    load = os.getloadavg()
    print(f"load average: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(table(results, sizes))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"load": load, "results": results}, indent=2) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
