"""Capital-constrained long-only portfolio simulation of a signal (see docs/portfolio.md).

Modules: :mod:`~poc.portfolio.config` (settings), :mod:`~poc.portfolio.simulate`
(the day loop), :mod:`~poc.portfolio.stats` (trade statistics and the random-entry
control), :mod:`~poc.portfolio.suite` (grids, MLflow-free), :mod:`~poc.portfolio.sheet`
(tear sheet context), :mod:`~poc.portfolio.acceptance` (planted vs noise check),
:mod:`~poc.portfolio.bench` (speed).
"""
