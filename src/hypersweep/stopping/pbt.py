"""The stopping half of population based training: end each segment at its budget.

Reference: Jaderberg et al., "Population Based Training of Neural Networks",
arXiv:1711.09846, 2017. The design (segments, lineage, checkpoints) is described in
:mod:`hypersweep.samplers.pbt`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypersweep.history import History
from hypersweep.stopping.base import Decision, Policy
from hypersweep.trial import Trial

__all__ = ["PBTPolicy"]


class PBTPolicy(Policy):
    """Stop a trial at its first report at or past its budget (``trial.budget``).

    The PBT sampler (:class:`~hypersweep.samplers.pbt.PBTSampler`) gives each segment the
    step at which the next exploit/explore decision is due as its budget. This policy is
    the *pause* of PBT: the segment ends there (STOPPED, keeping its value at that step)
    and the sampler's next proposal resumes the member from the segment's checkpoint, or
    replaces it by a perturbed copy of a better member. The decision reads only the
    trial's own record, so it is the same for function and command trials, in any
    process. A trial without a budget is never stopped. Save the checkpoint before
    reporting a step: the report at the budget ends the trial.

    It has no options: the sampler holds PBT's settings.

    Example:
        >>> from hypersweep.space import Float, Space
        >>> from hypersweep.trial import Objective, TrialState
        >>> h = History(Space({"lr": Float(0.1, 1.0)}), [Objective("loss")])
        >>> t = Trial(0, TrialState.RUNNING, {"lr": 0.5}, reports={5: {"loss": 1.0}},
        ...           budget=5)
        >>> PBTPolicy().decide(t, h)
        <Decision.STOP: 'stop'>
    """

    name: ClassVar[str] = "pbt"

    def decide(self, trial: Trial, history: History) -> Decision:
        budget = trial.budget
        step = trial.last_step
        if (
            step is None
            or isinstance(budget, bool)
            or not isinstance(budget, (int, float))
            or step < budget
        ):
            return Decision.CONTINUE
        return Decision.STOP

    def config(self) -> dict[str, Any]:
        return {"policy": self.name}
