"""``hypersweep report NAME --html FILE`` and ``hypersweep plot NAME KIND -o FILE``.

::

    hypersweep report digits-mlp --html digits.html      # one self-contained file
    hypersweep plot digits-mlp history -o history.html   # or .png / .svg (kaleido)
    hypersweep plot digits-mlp contour --params lr hidden -o lr-hidden.html
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hypersweep.errors import HypersweepError

__all__ = ["add_parsers"]


def _storage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", metavar="URL", default=None,
                   help="storage URL (default: sqlite:///.hypersweep/studies.db)")  # fmt: skip
    p.add_argument("--debug", action="store_true", default=False, help=argparse.SUPPRESS)


def add_parsers(subparsers: Any) -> None:
    """Add ``report`` and ``plot`` to the ``hypersweep`` parser."""
    from hypersweep.dashboard.plots import KINDS

    fmt = argparse.RawDescriptionHelpFormatter
    r = subparsers.add_parser(
        "report",
        formatter_class=fmt,
        epilog="examples:\n  hypersweep report digits-mlp --html digits.html\n\n"
        "The file opens from disk in any browser: no server, no network.",
        help="write a self-contained HTML report of a study",
        description="One HTML file with the dashboard's charts and the trials table "
        "(plotly inlined: opens with no server and no network).",
    )
    r.add_argument("name", metavar="NAME", help="study name")
    r.add_argument("--html", metavar="FILE", required=True, help="the file to write")
    _storage_arg(r)
    r.set_defaults(func=run_report)
    p = subparsers.add_parser(
        "plot",
        formatter_class=fmt,
        epilog="examples:\n  hypersweep plot digits-mlp history -o history.html\n"
        "  hypersweep plot digits-mlp contour --params lr hidden -o lr-hidden.html\n"
        "  hypersweep plot digits-mlp parallel -o parallel.png   # needs kaleido",
        help="write one chart of a study (html, png, svg)",
        description="One chart of a study: " + ", ".join(KINDS) + ".",
    )
    p.add_argument("name", metavar="NAME", help="study name")
    p.add_argument("kind", choices=KINDS, metavar="KIND", help=" | ".join(KINDS))
    p.add_argument("-o", "--output", metavar="FILE", required=True, help=".html, .png or .svg")
    p.add_argument("--params", nargs="+", default=(), metavar="P",
                   help="slice: the parameter; contour: the two parameters")  # fmt: skip
    _storage_arg(p)
    p.set_defaults(func=run_plot)


def _open(url: str | None) -> Any:
    try:
        import plotly  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        raise HypersweepError(
            "needs the dashboard extra: pip install 'hypersweep[dashboard]'"
        ) from None
    from hypersweep.storage import DEFAULT_URL, open_storage, url_problem

    url = url or DEFAULT_URL
    problem = url_problem(url)
    if problem:
        raise HypersweepError(f"--storage: {problem}")
    if url.startswith("sqlite:"):
        from pathlib import Path

        path = url.split(":///", 1)[-1]
        if path and not Path(path).exists():
            raise HypersweepError(f"no studies in {url}: {path!r} does not exist")
    return open_storage(url, read_only=True)


def run_report(args: argparse.Namespace) -> int:
    from hypersweep.dashboard.static_report import write_report

    storage = _open(args.storage)
    try:
        p = write_report(storage, args.name, args.html)
    finally:
        storage.close()
    sys.stdout.write(f"wrote {p} ({p.stat().st_size // 1024} KiB)\n")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from hypersweep.dashboard.plots import figure, write_plot

    storage = _open(args.storage)
    try:
        p = write_plot(figure(storage, args.name, args.kind, tuple(args.params)), args.output)
    finally:
        storage.close()
    sys.stdout.write(f"wrote {p}\n")
    return 0
