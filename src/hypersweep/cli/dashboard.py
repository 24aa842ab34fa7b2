"""``hypersweep dashboard``: the read-only web dashboard over a storage.

::

    hypersweep dashboard                                  # http://127.0.0.1:8080/
    hypersweep dashboard --storage postgresql://host/db --host 0.0.0.0 --port 9000
    hypersweep dashboard --allow-write                    # stop a study, enqueue a config

Binding to anything but a loopback address needs a token: ``--token T``, or one is
generated and printed with the URL; every request must then carry it. Writes need
``--allow-write`` (and so a token, generated when not given).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

from hypersweep.errors import HypersweepError

__all__ = ["add_parser", "is_loopback", "run"]

EPILOG = """\
examples:
  hypersweep dashboard
  hypersweep dashboard --storage sqlite:///runs/studies.db --port 9000
  hypersweep dashboard --host 0.0.0.0 --token "$(cat ~/.hs-token)"

It only reads the storage (opened read-only): sweeps and workers can stop and restart
while it runs. Needs the dashboard extra: pip install 'hypersweep[dashboard]'."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``dashboard`` sub-command to the ``hypersweep`` parser."""
    d = subparsers.add_parser(
        "dashboard",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        help="serve the web dashboard over a storage",
        description="A live, read-only web dashboard of every study in the storage.",
    )
    d.add_argument(
        "--storage",
        metavar="URL",
        default=None,
        help="storage URL (default: sqlite:///.hypersweep/studies.db)",
    )
    d.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    d.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    d.add_argument(
        "--token",
        default=None,
        help="the token every request must carry "
        "(generated when binding beyond loopback or with --allow-write)",
    )
    d.add_argument(
        "--allow-write",
        action="store_true",
        help="allow stopping a study and enqueueing a configuration (token required)",
    )
    d.add_argument(
        "--runs-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="where trials' output folders are (for stdout/stderr tails); repeatable",
    )
    d.add_argument("--debug", action="store_true", default=False, help=argparse.SUPPRESS)
    d.set_defaults(func=run)
    return d


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the dashboard on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None, allow_write: bool) -> str | None:
    """The token the server checks: the given one, a generated one when the bind goes
    beyond loopback or writes are allowed, else ``None``."""
    if token is not None:
        if len(token) < 8:
            raise HypersweepError("--token: use at least 8 characters")
        return token
    if allow_write or not is_loopback(host):
        import secrets

        return secrets.token_urlsafe(24)
    return None


def run(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl-C."""
    try:
        import uvicorn
    except ImportError:
        raise HypersweepError(
            "dashboard: needs the dashboard extra: pip install 'hypersweep[dashboard]'"
        ) from None
    from hypersweep.dashboard import logs
    from hypersweep.dashboard.app import create_app, plotly_js
    from hypersweep.storage import DEFAULT_URL, open_storage, url_problem

    url = args.storage or DEFAULT_URL
    problem = url_problem(url)
    if problem:
        raise HypersweepError(f"--storage: {problem}")
    if url.startswith("sqlite:"):
        from pathlib import Path

        path = url.split(":///", 1)[-1]
        if path and not Path(path).exists():
            raise HypersweepError(
                f"no studies in {url}: {path!r} does not exist (run a sweep first, or pass "
                "--storage)"
            )
    plotly_js()  # a missing plotly fails here, not at the first page
    token = resolve_token(args.host, args.token, args.allow_write)
    storage = open_storage(url, read_only=not args.allow_write)
    logs.RUNS_DIRS[:] = list(args.runs_dir)
    app = create_app(storage, token=token, allow_write=args.allow_write)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    host = f"[{args.host}]" if ":" in args.host else args.host

    startup = server.startup

    async def announce(sockets: Any = None) -> None:
        await startup(sockets)
        port = args.port
        for s in server.servers:
            for sock in s.sockets:
                port = sock.getsockname()[1]
        link = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
        mode = "read-write" if args.allow_write else "read-only"
        sys.stdout.write(f"hypersweep dashboard ({mode}) on {url}: {link}\n")
        sys.stdout.flush()

    server.startup = announce  # type: ignore[method-assign]
    try:
        server.run()
    finally:
        storage.close()
    return 0
