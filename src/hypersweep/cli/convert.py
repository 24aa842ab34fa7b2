"""``hypersweep convert FILE -o sweep.yaml``: an Azure ML or W&B sweep file as a native one."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from hypersweep.cli._common import EXIT_OK, EXIT_USAGE, UsageError, print_err, print_out

__all__ = ["add_parser", "cmd_convert", "render"]

EPILOG = """\
examples:
  hypersweep convert job-sweep.yml -o sweep.yaml      # an Azure ML sweep job
  hypersweep convert wandb-sweep.yaml -o sweep.yaml   # a W&B sweep config
  hypersweep convert job-sweep.yml                    # print it instead

The written file says in comments what was translated and what was dropped; it is
checked like any sweep file before it is written (hypersweep validate reads it too).
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser] | None = None) -> None:
    c = sub.add_parser(
        "convert",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        help="write an Azure ML or W&B sweep file as a hypersweep sweep file",
        description="Translate an Azure ML sweep job YAML or a W&B sweep config into a "
        "native hypersweep sweep file (what 'hypersweep run' does on the fly).",
    )
    c.add_argument("file", metavar="FILE", help="the Azure ML or W&B sweep file")
    c.add_argument("-o", "--output", metavar="OUT", help="where to write it (default: print)")
    c.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    c.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    from hypersweep.spec import SweepFileError, load_text
    from hypersweep.spec.foreign import ForeignFileError, load_foreign
    from hypersweep.spec.yaml import compose

    src = Path(args.file)
    if not src.is_file():
        raise UsageError(f"{args.file}: no such file")
    text = src.read_text(encoding="utf-8")
    data, lines = compose(text, args.file)
    base = src.resolve().parent
    try:
        foreign = load_foreign(data, lines, args.file, base)
    except ForeignFileError as e:
        for p in e.problems:
            print_err(f"error: {p}")
        print_err(f"{args.file}: {len(e.problems)} key(s) stop the conversion")
        return EXIT_USAGE
    if foreign is None:
        raise UsageError(
            f"{args.file}: not an Azure ML sweep job nor a W&B sweep config (a "
            "hypersweep file already? check it with: hypersweep validate FILE)"
        )
    t = foreign[0]
    out_dir = Path(args.output).resolve().parent if args.output else Path.cwd()
    native = dict(t.native)
    if "workdir" in native:
        native["workdir"] = os.path.relpath(native["workdir"], out_dir)
    body = render(native, args.file, t.source, t.notes, [f"{p}: {m}" for p, m in t.warnings])
    try:  # the written file must load as it is
        load_text(body, args.output or "<converted>", base_dir=out_dir)
    except SweepFileError as e:
        print_err(f"error: the translation does not load: {e}")
        return EXIT_USAGE
    if not args.output:
        print_out(body.rstrip("\n"))
        return EXIT_OK
    dest = Path(args.output)
    if dest.exists() and not args.force:
        raise UsageError(f"{args.output} exists; give --force to overwrite it")
    dest.write_text(body, encoding="utf-8")
    print_out(f"wrote {args.output} ({len(t.warnings)} key(s) dropped; see its comments)")
    return EXIT_OK


def render(
    native: dict[str, Any], file: str, source: str, notes: list[str], dropped: list[str]
) -> str:
    """The native sweep file: comments (what was translated and dropped), then YAML.

    Example:
        >>> print(render({"name": "a"}, "x.yml", "W&B sweep config", ["n"], ["d: e"]))
        # translated by 'hypersweep convert' from x.yml (a W&B sweep config)
        # translated:
        #   n
        # dropped (not honoured by hypersweep):
        #   d: e
        name: a
        <BLANKLINE>
    """
    import yaml

    article = "an" if source[:1] in "AEIOU" else "a"
    head = [f"# translated by 'hypersweep convert' from {file} ({article} {source})"]
    if notes:
        head += ["# translated:", *(f"#   {n}" for n in notes)]
    if dropped:
        head += ["# dropped (not honoured by hypersweep):", *(f"#   {d}" for d in dropped)]
    body = yaml.safe_dump(native, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body
