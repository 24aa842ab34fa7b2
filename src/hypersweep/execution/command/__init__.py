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

Besides its parameters, a command may use ``{trial}`` (the trial number), ``{trial_dir}``
(its run folder, absolute), ``{study}`` and ``{workdir}`` (a parameter of the same name
wins). With ``per_trial=True`` (``workdir: per_trial``) each trial runs in a fresh
folder, ``<run folder>/work/``, so scripts that write fixed paths (``mlruns/``,
``model.pt``) run side by side; a relative program path and an interpreter's script
(``python train.py``) are resolved against ``workdir``, which the trial also finds in
``HYPERSWEEP_WORKDIR`` (``python -m pkg`` gets it on ``PYTHONPATH``).

Metrics are read incrementally (each poll reads only what was written since the last
one; a partial last line or record waits for its end) from the sources of
:class:`~hypersweep.metrics.MetricsConfig` (``metrics: {source: ...}``; default ``auto``,
all of them):

* ``jsonl``: the SDK's JSON lines ``{"step": 3, "val_acc": 0.91}`` (every key is kept);
* ``stdout`` and ``stderr``: text lines (:mod:`hypersweep.metrics.text`): ``name=value``
  and ``name: value`` pairs for any name, several per line (``93.1%`` is 93.1, ``1,234.5``
  is 1234.5), ``name value`` for the declared metrics, JSON objects, and the sweep's
  ``patterns``. A ``step`` or ``epoch`` on the line gives the step; otherwise each line
  that reports a metric is the next step. Lines are split on ``\\n`` and ``\\r``
  (progress bars). Under ``auto``, once a trial reports through the SDK or a tracker its
  text lines are no longer parsed for pairs (patterns still apply);
* ``mlflow``, ``wandb``, ``tensorboard``: the trackers' files, read every
  :data:`~hypersweep.execution.command.intake.FILE_INTERVAL` seconds. The trial's
  environment points MLflow at a file store in its run folder
  (``MLFLOW_TRACKING_URI=file:<run folder>/mlruns``) and runs W&B offline there
  (``WANDB_MODE=offline``, ``WANDB_DIR=<run folder>``): nothing is sent anywhere. The
  sweep's ``env`` overrides them. TensorBoard event files are found anywhere under the
  run folder (and ``metrics.logdir``).

Every numeric metric a trial reports is kept (up to
:data:`~hypersweep.execution.command.intake.MAX_NAMES` names beside the declared ones).
A trial that exits 0 without an objective metric FAILS with the names it did report
and the closest one; the runner then fails fast.

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
    TRIAL_PLACEHOLDERS,
    command_line,
    command_placeholders,
    format_value,
    param_env_name,
    render_command,
    rerun_command,
)

__all__ = [
    "TRIAL_PLACEHOLDERS",
    "CommandExecutor",
    "command_line",
    "command_placeholders",
    "format_value",
    "param_env_name",
    "render_command",
    "rerun_command",
]
