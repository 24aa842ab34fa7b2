"""Gaussian-process Bayesian optimization with the log expected improvement.

The model and the acquisition follow the standard recipe -- Jones, Schonlau & Welch 1998,
"Efficient global optimization of expensive black-box functions" (J. Global Optim.);
Snoek, Larochelle & Adams 2012, "Practical Bayesian optimization of machine learning
algorithms" (NeurIPS); Rasmussen & Williams 2006, "Gaussian Processes for Machine
Learning" (ch. 2 and 5) -- with the numerically stable log expected improvement of
Ament, Daulton, Eriksson, Balandat & Bakshy 2023, "Unexpected improvements to expected
improvement for Bayesian optimization" (NeurIPS). Everything is numpy + scipy; the
gradients (of the marginal likelihood and of the acquisition) are analytic.
"""

from __future__ import annotations

from hypersweep.samplers.gp._ei import log_h
from hypersweep.samplers.gp._multi import MAX_EHVI_OBJECTIVES
from hypersweep.samplers.gp._sampler import GPSampler

__all__ = ["MAX_EHVI_OBJECTIVES", "GPSampler", "log_h"]
