"""poc: signal and allocation research on MLflow.

The package is a set of flat modules, one concern each (see ``docs/conventions.md`` and the
README): ``catalog`` and ``sources`` make
versioned data snapshots, ``contract`` validates and aligns signals, ``panel``
and ``engine`` backtest them, ``suite`` runs grids, ``tracking`` talks to
MLflow and ``tearsheet`` renders the report.
"""

__version__ = "0.1.0"
