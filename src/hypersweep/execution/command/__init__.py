"""Run each trial as an external command: an existing training script, unchanged.

A command is an argv template: a string split with shell rules (``shlex``) but never run
by a shell, or a list used as is. ``{name}`` placeholders are replaced by the parameter's
value *after* splitting, so a value is always data: ``"; rm -rf ~"`` or ``$(touch x)``
arrive in the script as one literal argument. See :func:`render_command` for how the
parameters the template does not mention are delivered, and for the value formatting.

Each trial runs in its own process group (its own session) with stdout and stderr going
to files under ``<runs_dir>/<study>/<trial number>/``:

* ``stdout.log``, ``stderr.log``: what the process printed;
* ``metrics.jsonl``: the in-trial SDK's reports (``HYPERSWEEP_METRICS_FILE``);
* ``params.json``: the parameters, when delivered as ``json``;
* ``STOP``: created when the trial is asked to stop (``HYPERSWEEP_STOP_FILE``);
* ``checkpoint/``: the trial's checkpoint directory (``HYPERSWEEP_CHECKPOINT_DIR``). A
  trial whose ``Trial.resume_from`` names another trial (a PBT segment) gets
  that trial's checkpoint directory as ``HYPERSWEEP_RESTORE_FROM``.

Python trials run with ``PYTHONUNBUFFERED=1`` (unless ``env`` or the environment sets
it): a script's ``print`` reaches ``stdout.log`` at once even though stdout is a file,
so its metrics arrive while it runs (other programs must flush their output themselves).

Metrics come in two ways, both read incrementally (each poll reads only the bytes
written since the last one; a partial last line waits for its end):

* the SDK's JSON lines ``{"step": 3, "val_acc": 0.91}`` (every key is kept). Once a trial
  has written one, its stdout is no longer parsed for metrics;
* stdout lines that mention a declared metric name (``CommandExecutor(metrics=...)``):
  ``val_acc=0.91``, ``val_acc: 0.91``, ``epoch 3 val_acc=0.91 loss=0.2`` (several pairs on
  one line), ``{'val_acc': 0.91}``, or a JSON object on a line of its own. A ``step`` or
  ``epoch`` on the same line (``step=3``, ``epoch: 3``, ``Epoch 3/10``) gives the step;
  otherwise each line that reports a declared metric is the next step. A value is the
  token after ``=`` or ``:`` up to white space, ``,`` or ``;``; surrounding quotes and
  brackets and a trailing ``.`` are ignored. A name must stand alone (``loss`` does not
  match ``val_loss=...``); ``loss 0.2`` (no ``=`` or ``:``) is not read. Lines are split
  on ``\\n`` and ``\\r`` (progress bars).

Metric intake is bounded per trial, so a trial that floods its output (a million metric
lines) never holds up the loop: other trials' timeouts, the study's limits and stop
requests are honoured meanwhile. Each poll parses at most ``read_per_poll`` bytes (1 MiB)
of a trial's output, and for at most :data:`READ_SECONDS` (50 ms), in 64 KiB pieces (the
rest is read at the next polls, also after the process ended: its outcome waits until its
output is read; output written after a stop request is skipped unread, since it would
not count anyway); the reports of one poll are merged per
step (the latest value of each metric wins); and at most ``report_rate`` reports per
second (20, in bursts of up to ``report_burst``, 200) are passed on to be stored. Over
the rate the newest steps go on and older ones are dropped, with one warning per trial;
every value still counts for the trial's final value (``reduce``) and for the NaN check,
and the trial's last report is always stored. A trial that had reports merged or dropped
keeps the counts in ``system_attrs["intake"]`` (``reports``, ``stored``, ``dropped``,
``coalesced``, ``max_per_second``, ``bytes``, ``skipped_bytes``). The trial learns of it
through the coordinator's log only (one warning); nothing is sent into the process.

A report's values are numbers (NaN and infinities included); an objective metric that
is text, NaN or infinite ends the trial at once (stopped as below) and FAILS it with
that reason. The trial's final value of each metric is reduced over its reports
(``reduce``: last, min or max). Reports written after a stop request are not counted:
a STOPPED trial keeps the value it had when it was told to stop.

Stopping a trial (a stop decision of the policy or ``max_steps``, :meth:`CommandExecutor.stop`,
the trial timeout, an invalid objective value, :meth:`CommandExecutor.close`): the ``STOP``
file is created and SIGINT goes to the trial's whole process tree; after ``grace``
seconds SIGTERM; after ``min(2, max(0.5, grace / 5))`` more seconds SIGKILL. Nothing
blocks: :meth:`CommandExecutor.poll` checks these deadlines. When a trial's main process
ends, whatever is left of its tree is killed (SIGKILL) before the main process is reaped
(so the group id cannot have been reused), and no orphan keeps a GPU. The tree is the
trial's process group plus every process whose environment holds the trial's
``HYPERSWEEP_TRIAL_TOKEN`` (found through ``/proc`` on Linux): children that started a
new session or process group (``setsid``, daemons) inherit the token and end with the
trial too; only a child that also clears its environment escapes. A
``PAUSE`` decision is treated as ``CONTINUE``: a process cannot be paused here.

POSIX only (process groups and signals).
"""

from __future__ import annotations

from hypersweep.execution.command.executor import CommandExecutor
from hypersweep.execution.command.template import (
    command_line,
    command_placeholders,
    format_value,
    param_env_name,
    render_command,
    rerun_command,
)

__all__ = [
    "CommandExecutor",
    "command_line",
    "command_placeholders",
    "format_value",
    "param_env_name",
    "render_command",
    "rerun_command",
]
