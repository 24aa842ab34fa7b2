"""The argv template of a command trial: placeholders, how values are written, and how
parameters no placeholder uses are delivered (see :mod:`hypersweep.execution.command`)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hypersweep.errors import HypersweepError

if TYPE_CHECKING:
    from hypersweep.space import Delivery

__all__ = [
    "PARAMS_AS",
    "PARAM_ENV_PREFIX",
    "PROTOCOL_ENV",
    "TRIAL_PLACEHOLDERS",
    "command_line",
    "command_placeholders",
    "format_value",
    "param_env_name",
    "parse_template",
    "render_command",
    "split_command",
]

PARAMS_AS = ("args", "env", "json")

# Environment variables of the trial protocol: never inherited from our own environment
# (a sweep started from inside a trial must not leak its trial's settings).
PROTOCOL_ENV = (
    "HYPERSWEEP_PARAMS",
    "HYPERSWEEP_PARAMS_FILE",
    "HYPERSWEEP_METRICS_FILE",
    "HYPERSWEEP_STOP_FILE",
    "HYPERSWEEP_TRIAL",
    "HYPERSWEEP_STUDY",
    "HYPERSWEEP_RUN_DIR",
    "HYPERSWEEP_BUDGET",
    "HYPERSWEEP_CHECKPOINT_DIR",
    "HYPERSWEEP_RESTORE_FROM",
    "HYPERSWEEP_TRIAL_TOKEN",
    "HYPERSWEEP_NOTICE_FILE",
    "HYPERSWEEP_WORKDIR",
    "HYPERSWEEP_SEED",
)
PARAM_ENV_PREFIX = "HYPERSWEEP_PARAM_"
#: Placeholders every command may use besides its parameters (a parameter of the same name
#: wins): the trial number, the trial's run folder (absolute), the study name, the
#: sweep's working directory (absolute; with ``workdir: per_trial`` the folder the
#: per-trial folders stand in for), and the trial's seed.
TRIAL_PLACEHOLDERS = ("trial", "trial_dir", "study", "workdir", "seed")
#: A bare option name: ``-l``, ``--lr``, ``--learning-rate`` (not a negative number).
_OPTION_RE = re.compile(r"--?[A-Za-z_][\w.\-/]*")


# ------------------------------------------------------------------------------------------
# The argv template
# ------------------------------------------------------------------------------------------
def format_value(value: Any) -> str:
    """The text of a parameter value on a command line or in an environment variable.

    One formatting everywhere (trial launch and ``hypersweep best``):

    * strings: unchanged;
    * booleans: ``true`` / ``false`` (as in the sweep file and JSON);
    * ``None``: ``null``;
    * integers: decimal digits;
    * floats: Python's shortest round-trip ``repr``: ``0.001``, ``1e-05``, ``3.0``,
      ``nan``, ``inf`` (parsing the text gives back exactly the same float);
    * lists and dicts (fixed values): compact JSON.

    Example:
        >>> [format_value(v) for v in ("a b", True, None, 3, 1e-5, 0.1, [1, 2])]
        ['a b', 'true', 'null', '3', '1e-05', '0.1', '[1,2]']
    """
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (list, dict)):
        try:  # numpy scalars
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def param_env_name(name: str) -> str:
    """The environment variable of parameter ``name`` under ``params_as="env"``.

    Example:
        >>> param_env_name("General/lr")
        'HYPERSWEEP_PARAM_GENERAL_LR'
    """
    return PARAM_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def split_command(command: str | Sequence[str]) -> list[str]:
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as e:
            raise HypersweepError(f"command: cannot split {command!r}: {e}") from None
    elif isinstance(command, Sequence) and not isinstance(command, (bytes, bytearray)):
        argv = list(command)
        bad = [a for a in argv if not isinstance(a, str)]
        if bad:
            raise HypersweepError(
                f"command: every item of a command list must be a string, got {bad[0]!r}"
            )
    else:
        raise HypersweepError(
            f"command: expected a string or a list of strings, got {type(command).__name__}"
        )
    if not argv:
        raise HypersweepError("command: empty; e.g. command: python train.py --lr {lr}")
    return argv


def parse_template(item: str) -> list[tuple[bool, str]]:
    """Parse one argv item into (is_placeholder, text) parts; ``{{``/``}}`` are braces."""
    parts: list[tuple[bool, str]] = []
    text: list[str] = []
    i, n = 0, len(item)
    while i < n:
        c = item[i]
        if c == "{":
            if item.startswith("{{", i):
                text.append("{")
                i += 2
                continue
            end = item.find("}", i + 1)
            if end < 0 or "{" in item[i + 1 : end]:
                raise HypersweepError(
                    f"command: unclosed '{{' in {item!r}; write {{{{ for a literal brace"
                )
            name = item[i + 1 : end]
            if not name:
                raise HypersweepError(
                    f"command: empty placeholder {{}} in {item!r}; write {{{{}}}} for "
                    "literal braces"
                )
            if text:
                parts.append((False, "".join(text)))
                text = []
            parts.append((True, name))
            i = end + 1
        elif c == "}":
            if item.startswith("}}", i):
                text.append("}")
                i += 2
                continue
            raise HypersweepError(
                f"command: single '}}' in {item!r}; write }}}} for a literal brace"
            )
        else:
            text.append(c)
            i += 1
    if text:
        parts.append((False, "".join(text)))
    return parts


def command_placeholders(command: str | Sequence[str]) -> set[str]:
    """The parameter names that ``command`` uses as ``{name}`` placeholders.

    Raises:
        HypersweepError: the command cannot be split or has unbalanced braces.

    Example:
        >>> sorted(command_placeholders("python train.py --lr {lr} --h={hidden} {{x}}"))
        ['hidden', 'lr']
    """
    return {t for item in split_command(command) for ph, t in parse_template(item) if ph}


def render_command(
    command: str | Sequence[str],
    params: Mapping[str, Any],
    params_as: str = "args",
    *,
    params_file: str | None = None,
    context: Mapping[str, str] | None = None,
    delivery: Delivery | None = None,
    lenient: bool = False,
    seed: int | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and the extra environment of one trial.

    ``{name}`` placeholders in argv items are replaced by the value (see
    :func:`format_value`); ``{{`` and ``}}`` are literal braces. A string command is
    split with shell rules first, so a value never becomes more than the one argument it
    stands in.

    A placeholder of a conditional parameter that this trial does not have (its group
    chose another option) drops its whole argv item: ``--lr={lr}`` disappears. An item
    that is the placeholder alone (``{lr}``) also drops the option right before it when
    that is a bare option name (``--lr {lr}``, ``-l {lr}``).

    Parameters that no placeholder uses are delivered per ``params_as``:

    * ``"args"``: ``--name=value`` appended, in parameter order;
    * ``"env"``: ``HYPERSWEEP_PARAM_<NAME>=value`` (see :func:`param_env_name`);
    * ``"json"``: ``HYPERSWEEP_PARAMS_FILE`` names a file holding every parameter as a
      JSON object; the caller writes that file (pass its path as ``params_file``).

    ``HYPERSWEEP_PARAMS`` (every parameter as JSON, the parameters of groups nested:
    ``{"optimizer": {"lr": 0.1}}``) is always set.

    Args:
        command: a string (split like a shell would, never run by one) or a list.
        params: the trial's parameters.
        params_as: ``"args"``, ``"env"`` or ``"json"``.
        params_file: the path for ``HYPERSWEEP_PARAMS_FILE`` (``"json"`` only).
        context: the values of :data:`TRIAL_PLACEHOLDERS` (``{trial}``, ``{trial_dir}``,
            ``{study}``, ``{workdir}``); without it (a rerun line) they stay as written.
        delivery: the space's :class:`~hypersweep.space.Delivery`: which names are
            conditional (their placeholders may be dropped) and how groups nest.
        lenient: drop the item of any placeholder that names no parameter of this
            trial (for rerun lines of a sweep whose placeholders were checked at load).
        seed: the trial's seed, for ``{seed}`` (unless a parameter is named ``seed``).

    Returns:
        ``(argv, env)``: the argument list and the variables to add to the environment.

    Raises:
        HypersweepError: a placeholder names no parameter, braces are unbalanced, or
            ``params_as`` is unknown.

    Example:
        >>> render_command("train.py --lr {lr} --tag '{tag}'", {"lr": 0.1, "tag": "a; b",
        ...                "deep": True})[0]
        ['train.py', '--lr', '0.1', '--tag', 'a; b', '--deep=true']
        >>> render_command("train.py --out={trial_dir}/m.pt", {}, context={"trial_dir": "/r/3"})[0]
        ['train.py', '--out=/r/3/m.pt']
    """
    if params_as not in PARAMS_AS:
        raise HypersweepError(
            f"params_as: must be one of {', '.join(PARAMS_AS)}, got {params_as!r}"
        )
    if seed is not None:
        context = {**(context or {}), "seed": str(seed)}
    argv: list[str] = []
    used: set[str] = set()
    flag = False  # the last item of argv is a bare option name (no placeholder)
    for item in split_command(command):
        if "{" not in item and "}" not in item:
            argv.append(item)
            flag = _OPTION_RE.fullmatch(item) is not None
            continue
        out: list[str] = []
        parts = parse_template(item)
        dropped = False
        for is_ph, text in parts:
            if not is_ph:
                out.append(text)
                continue
            if text not in params and text in TRIAL_PLACEHOLDERS:
                out.append(context[text] if context and text in context else f"{{{text}}}")
                continue
            if text not in params and delivery is not None and text in delivery.groups():
                members = [k for k in params if k.startswith(text + ".")]
                used.update(members)  # "{optimizer}": the group, nested, as JSON
                node: Any = delivery.nest({k: params[k] for k in members})
                for part in text.split("."):
                    node = node[part]
                out.append(format_value(node))
                continue
            if text not in params:
                if lenient or (delivery is not None and text in delivery.conditional):
                    dropped = True  # an inactive conditional parameter: drop the item
                    break
                known = ", ".join(params) or "none"
                raise HypersweepError(
                    f"command: placeholder {{{text}}} names no parameter of this trial "
                    f"(parameters: {known}; also {{trial}}, {{trial_dir}}, {{study}}, "
                    "{workdir}); write {{ and }} for literal braces"
                )
            used.add(text)
            out.append(format_value(params[text]))
        if dropped:
            if flag and len(parts) == 1:  # "--lr {lr}": the option goes with its value
                argv.pop()
            flag = False
            continue
        argv.append("".join(out))
        flag = False
    nested = delivery.nest(params) if delivery is not None else params
    env = {"HYPERSWEEP_PARAMS": json.dumps(_plain(nested), default=str)}
    rest = [k for k in params if k not in used]
    if params_as == "args":
        argv.extend(f"--{k}={format_value(params[k])}" for k in rest)
    elif params_as == "env":
        for k in rest:
            var = param_env_name(k)
            if var in env:
                other = next(o for o in rest if o != k and param_env_name(o) == var)
                raise HypersweepError(
                    f"params_as: parameters {other!r} and {k!r} both map to {var}; "
                    "rename one, or use params_as: args or json"
                )
            env[var] = format_value(params[k])
    elif params_file is not None:
        env["HYPERSWEEP_PARAMS_FILE"] = str(params_file)
    return argv, env


def command_line(
    command: str | Sequence[str],
    params: Mapping[str, Any],
    params_as: str = "args",
    delivery: Delivery | None = None,
    seed: int | None = None,
) -> str:
    """A shell line that reruns ``command`` with ``params`` by hand (for ``hypersweep best``).

    The ``env`` variables (``json``: ``HYPERSWEEP_PARAMS``) are written as assignments in
    front of the command, every word is quoted for a POSIX shell.

    Example:
        >>> command_line("python train.py", {"lr": 0.01, "act": "relu"}, "env")
        'HYPERSWEEP_PARAM_LR=0.01 HYPERSWEEP_PARAM_ACT=relu python train.py'
    """
    argv, env = render_command(
        command, params, params_as, delivery=delivery, lenient=True, seed=seed
    )
    wanted = [k for k in env if k.startswith(PARAM_ENV_PREFIX)]
    if params_as == "json":
        wanted = ["HYPERSWEEP_PARAMS"]
    assigns = [f"{k}={shlex.quote(env[k])}" for k in wanted]
    return " ".join([*assigns, shlex.join(argv)])


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if hasattr(v, "item") and callable(v.item) and not isinstance(v, (list, dict)):
            try:
                v = v.item()
            except (TypeError, ValueError):
                pass
        out[str(k)] = v
    return out


# ------------------------------------------------------------------------------------------
# Metric capture
# ------------------------------------------------------------------------------------------


def rerun_command(
    sweep: Mapping[str, Any] | None, params: Mapping[str, Any], seed: int | None = None
) -> str | None:
    """The shell line that reruns a trial of a command sweep, or ``None``.

    ``cd WORKDIR && [VAR=value ...] argv...``: the same argv and parameter environment the
    trial had (see :func:`command_line`).
    """
    if not sweep or not sweep.get("command"):
        return None
    from hypersweep.space.nested import Delivery

    # a stored sweep keeps no space: group members are the dotted names ("optimizer.lr")
    # (unless a prefix is a parameter itself: Hydra's "dataset" and "dataset.train_batch")
    paths = {k: tuple(k.split(".")) for k in params if "." in k}
    groups = Delivery(
        paths={
            k: p
            for k, p in paths.items()
            if not any(".".join(p[:i]) in params for i in range(1, len(p)))
        }
    )
    line = command_line(
        sweep["command"], params, sweep.get("params_as", "args"), delivery=groups, seed=seed
    )
    workdir = sweep.get("workdir")
    if workdir:
        line = f"cd {shlex.quote(str(workdir))} && {line}"
    return line
