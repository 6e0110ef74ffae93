"""Experiment specs: the YAML files in ``experiments/`` that say what a suite runs.

A spec names the MLflow experiment, the snapshot, the signal, the grid and
the run options::

    name: sp500-high52w
    snapshot: sp500-v1
    signal: builtin:high_52w
    baselines: true
    grid:
      lag: [0, 1, 2]
      residualize: [off, industry]
      fractile: [[20, 80]]

Command-line parameters override the YAML (an empty string means "keep the
YAML's value"). Unknown keys and bad values raise
:class:`~poc.exceptions.ConfigError` naming the key.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from poc.exceptions import ConfigError
from poc.oos import oos_text, parse_oos_start

# Grid axes and their defaults (the BacktestConfig fields a suite can vary).
GRID_DEFAULTS: dict[str, list[Any]] = {
    "lag": [0, 1, 2],
    "residualize": ["off", "industry"],
    "weight": ["equal"],
    "fractile": [(10, 90)],
    "mincos": [10],
    "tc_model": ["naive"],
    "tc_bps": [0.0],
    "rebalance": ["daily"],
    "from_open": [False],
    "max_weight": [None],
}
TOP_LEVEL_KEYS = {
    "name",
    "description",
    "snapshot",
    "signal",
    "signal_name",
    "start",
    "end",
    "baselines",
    "n_jobs",
    "backend",
    "scheduler",
    "grid",
    "headline",
    "max_cells",
    "oos_start",
}
DEFAULT_MAX_CELLS = 5000


def expand_grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of a grid as dicts of axis -> value, last axis varying fastest."""
    axes = list(grid)
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*grid.values())]


class GridCells:
    """Cells of a spec's ``grid`` and its pre-declared ``headline`` cell (shared by specs)."""

    grid: dict[str, list[Any]]
    headline: dict[str, Any]

    def cells(self) -> list[dict[str, Any]]:
        """Every grid cell as a dict of axis -> value, in a stable order."""
        return expand_grid(self.grid)

    def headline_cell(self) -> dict[str, Any]:
        """The cell that is graded and highlighted: the first value of every axis unless
        the spec's ``headline`` says otherwise (never the best cell of the grid)."""
        cell = {axis: values[0] for axis, values in self.grid.items()}
        cell.update(self.headline)
        return cell


def count_cells(grid: dict[str, list[Any]]) -> int:
    """Number of cells of ``grid`` (product of the axis lengths), without building them."""
    return math.prod(len(values) for values in grid.values())


def check_cell_count(grid: dict[str, list[Any]], max_cells: int) -> int:
    """The grid's cell count, or a ConfigError with the count and the override when too big."""
    n = count_cells(grid)
    if n > max_cells:
        sizes = " x ".join(f"{len(v)} {axis}" for axis, v in grid.items() if len(v) > 1)
        raise ConfigError(
            f"the grid has {n:,} cells ({sizes}), more than max_cells={max_cells:,}; shrink an "
            f"axis, or raise the limit with --max-cells {n} (-P max_cells={n}, or max_cells: {n} "
            "in the spec) if you mean it"
        )
    return n


def parse_max_cells(value: Any) -> int:
    """``max_cells`` as a positive integer (spec key, ``--max-cells``, ``-P max_cells``)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ConfigError(f"max_cells: expected a positive whole number, got {value!r}") from None
    if number < 1:
        raise ConfigError(f"max_cells: expected a positive whole number, got {value!r}")
    return number


def parse_n_jobs(value: Any) -> int:
    """``n_jobs`` as a joblib worker count: 1 serial, -1 all cores; 0 and text are refused."""
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise ConfigError(
            f"n_jobs: expected a whole number of workers (1 serial, -1 all cores), got {value!r}"
        )
    if number == 0:
        raise ConfigError("n_jobs: 0 is not allowed; use 1 for serial or -1 for all cores")
    return number


def parse_date_bound(key: str, value: Any) -> str | None:
    """A ``start``/``end`` value as an ISO date string, None when empty; ConfigError otherwise."""
    import datetime as dt

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | dt.date):
        raise ConfigError(f"{key}: expected a date like 2015-01-31, got {value!r}")
    try:
        import pandas as pd

        return pd.Timestamp(str(value).strip()).date().isoformat()
    except (ValueError, TypeError):
        raise ConfigError(f"{key}={value!r} is not a date; use ISO dates like 2015-01-31") from None


def check_date_window(start: str | None, end: str | None) -> None:
    """Refuse a window whose start is after its end (both ISO strings or None)."""
    if start and end and start > end:
        raise ConfigError(
            f"start {start} is after end {end}: the window is empty; swap them or widen the window"
        )


def parse_typed_grid(
    raw: Any,
    known: Iterable[str],
    typed: Callable[[str, Any], Any],
    kind: str,
    defaults: dict[str, list[Any]] | None = None,
) -> dict[str, list[Any]]:
    """A spec's ``grid`` mapping: known axes only, each a non-empty list of typed values.

    ``typed(axis, value)`` converts one value (raising ConfigError); ``kind`` names the
    spec in the unknown-axis message ("allocation", "portfolio"); ``defaults`` are the
    axes every grid has unless the spec gives them.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"grid: expected a mapping of axis -> list, got {raw!r}")
    allowed = sorted(known)
    grid = dict(defaults or {})
    for axis, values in raw.items():
        if axis not in allowed:
            raise ConfigError(f"grid: unknown axis {axis!r}; {kind} axes are {allowed}")
        values = values if isinstance(values, list | tuple) else [values]
        if not values:
            raise ConfigError(f"grid.{axis}: needs at least one value")
        grid[axis] = [typed(axis, v) for v in values]
    return grid


def parse_typed_headline(
    raw: Any, grid: dict[str, list[Any]], typed: Callable[[str, Any], Any]
) -> dict[str, Any]:
    """The spec's ``headline``: each axis a grid axis and each value one of its values."""
    headline = {}
    for axis, value in parse_headline(raw).items():
        if axis not in grid:
            raise ConfigError(f"headline.{axis}: not a grid axis; axes are {sorted(grid)}")
        value_typed = typed(axis, value)
        if value_typed not in grid[axis]:
            raise ConfigError(f"headline.{axis}: {value!r} is not in grid.{axis} {grid[axis]}")
        headline[axis] = value_typed
    return headline


def parse_headline(raw: Any, what: str = "headline") -> dict[str, Any]:
    """The spec's ``headline`` mapping (axis -> value); a list or text is refused."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{what}: expected a mapping of axis -> one value (e.g. headline: {{lag: 1}}), got "
            f"{raw!r}"
        )
    return raw


@dataclass(frozen=True)
class ExperimentSpec(GridCells):
    """A validated experiment spec.

    Attributes
    ----------
    name : str
        MLflow experiment name.
    snapshot : str or None
        Snapshot id; None means the bundled default.
    signal : str
        A signal file path or ``builtin:NAME``.
    grid : dict of str to list
        Values per axis; the suite runs their Cartesian product.
    headline : dict
        The pre-declared cell graded by the verdict (default: the first value
        of every axis), so the grade never rewards picking the best cell.
    """

    name: str
    signal: str
    snapshot: str | None = None
    signal_name: str | None = None
    description: str = ""
    start: str | None = None
    end: str | None = None
    baselines: bool = True
    n_jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None  # Dask scheduler address for backend dask (poc.scaleout)
    grid: dict[str, list[Any]] = field(default_factory=lambda: dict(GRID_DEFAULTS))
    headline: dict[str, Any] = field(default_factory=dict)
    source_path: str | None = None
    max_cells: int = DEFAULT_MAX_CELLS
    oos_start: str | float | None = None  # IS/OOS split: ISO date or fraction (poc.oos)

    @property
    def display_name(self) -> str:
        """The signal's name for reports (``signal_name`` or derived from ``signal``)."""
        if self.signal_name:
            return self.signal_name
        if self.signal.startswith("builtin:"):
            return self.signal.split(":", 1)[1]
        return Path(self.signal).stem


# --------------------------------------------------------------------------
# Value parsing (shared by YAML and command-line overrides)
# --------------------------------------------------------------------------


def _parse_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"{key}: expected true or false, got {value!r}")


def _parse_axis_value(axis: str, value: Any) -> Any:
    """One grid value, typed; YAML 1.1 reads a bare ``off`` as False, so map it back."""
    if axis == "residualize":
        if value is False:
            return "off"
        return str(value)
    if axis in ("lag", "mincos"):
        if isinstance(value, bool) or int(float(value)) != float(value):
            raise ConfigError(f"grid.{axis}: expected whole numbers, got {value!r}")
        return int(float(value))
    if axis in ("tc_bps",):
        return float(value)
    if axis == "max_weight":
        return None if value in (None, "none", "None", "") else float(value)
    if axis == "from_open":
        return _parse_bool(f"grid.{axis}", value)
    if axis == "fractile":
        if isinstance(value, str):
            value = [v for v in value.replace("-", ",").split(",") if v.strip()]
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ConfigError(
                f"grid.fractile: expected a (low, high) pair of percentiles like [10, 90], "
                f"got {value!r}"
            )
        return (float(value[0]), float(value[1]))
    return str(value)


def _parse_axis(axis: str, values: Any) -> list[Any]:
    if axis not in GRID_DEFAULTS:
        raise ConfigError(f"grid: unknown axis {axis!r}; known axes are {sorted(GRID_DEFAULTS)}")
    if (
        axis == "fractile"
        and isinstance(values, list | tuple)
        and values
        and not isinstance(values[0], list | tuple | str)
    ):
        values = [values]  # a single pair given without the outer list
    if not isinstance(values, list | tuple):
        values = [values]
    if not values:
        raise ConfigError(f"grid.{axis}: needs at least one value")
    try:
        parsed = [_parse_axis_value(axis, v) for v in values]
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"grid.{axis}: cannot read {values!r} ({exc})") from exc
    if len(set(map(repr, parsed))) != len(parsed):
        raise ConfigError(f"grid.{axis}: repeated values in {values!r}")
    return parsed


def parse_list_option(axis: str, text: str) -> list[Any]:
    """A command-line grid override: ``"0,1,2"``; fractiles as ``"10,90"`` or ``"10,90;20,80"``."""
    if axis == "fractile":
        return _parse_axis(axis, [part for part in text.split(";") if part.strip()])
    return _parse_axis(axis, [part.strip() for part in text.split(",") if part.strip()])


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def spec_from_dict(raw: dict[str, Any], source_path: str | None = None) -> ExperimentSpec:
    """Validate a spec mapping (as read from YAML)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"an experiment spec must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in experiment spec; known keys are {sorted(TOP_LEVEL_KEYS)}"
        )
    if not raw.get("signal"):
        raise ConfigError("signal: required (a file path or builtin:NAME)")
    grid = dict(GRID_DEFAULTS)
    raw_grid = raw.get("grid") or {}
    if not isinstance(raw_grid, dict):
        raise ConfigError(f"grid: expected a mapping of axis -> list, got {raw_grid!r}")
    for axis, values in raw_grid.items():
        grid[axis] = _parse_axis(axis, values)
    max_cells = parse_max_cells(raw.get("max_cells", DEFAULT_MAX_CELLS))
    check_cell_count(grid, max_cells)
    headline = {}
    for axis, value in parse_headline(raw.get("headline")).items():
        (parsed,) = _parse_axis(axis, [value])
        if repr(parsed) not in map(repr, grid[axis]):
            raise ConfigError(f"headline.{axis}: {value!r} is not in grid.{axis} {grid[axis]}")
        headline[axis] = parsed
    n_jobs = parse_n_jobs(raw.get("n_jobs", 1))
    start = parse_date_bound("start", raw.get("start"))
    end = parse_date_bound("end", raw.get("end"))
    check_date_window(start, end)
    return ExperimentSpec(
        name=str(raw.get("name") or "default"),
        signal=str(raw["signal"]),
        snapshot=None if raw.get("snapshot") in (None, "") else str(raw["snapshot"]),
        signal_name=raw.get("signal_name"),
        description=str(raw.get("description") or ""),
        start=start,
        end=end,
        baselines=_parse_bool("baselines", raw.get("baselines", True)),
        n_jobs=n_jobs,
        backend=str(raw.get("backend") or "loky"),
        scheduler=str(raw["scheduler"]) if raw.get("scheduler") else None,
        grid=grid,
        headline=headline,
        source_path=source_path,
        max_cells=max_cells,
        oos_start=parse_oos_start(raw.get("oos_start")),
    )


def read_spec_file(path: str | Path, what: str = "experiment spec") -> dict[str, Any]:
    """The mapping in a YAML spec file; a clear ConfigError when missing or not YAML."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} {str(path)!r} does not exist; see experiments/*.yaml")
    if path.is_dir():
        raise ConfigError(
            f"{what} {str(path)!r} is a folder, not a file; pass a YAML file such as "
            "experiments/default.yaml"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it "
            "as UTF-8"
        ) from exc
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix its syntax") from exc


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment spec file."""
    return spec_from_dict(read_spec_file(path), source_path=str(path))


def apply_overrides(spec: ExperimentSpec, overrides: dict[str, str | None]) -> ExperimentSpec:
    """Apply command-line overrides; ``None`` or ``""`` keeps the spec's value.

    Keys: ``signal, snapshot, signal_name, start, end, baselines, n_jobs,
    backend`` and any grid axis (``lag``/``lags``, ``residualize``, ``weight``,
    ``fractile``, ``tc_bps``, ``rebalance``, ...), given as comma-separated text.
    """
    changes: dict[str, Any] = {}
    grid = dict(spec.grid)
    for key, value in overrides.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        axis = "lag" if key == "lags" else key
        if axis in GRID_DEFAULTS:
            grid[axis] = parse_list_option(axis, str(value))
        elif key in ("signal", "snapshot", "signal_name", "backend", "scheduler"):
            changes[key] = str(value)
        elif key in ("start", "end"):
            changes[key] = parse_date_bound(key, str(value))
        elif key == "baselines":
            changes[key] = _parse_bool("baselines", value)
        elif key == "n_jobs":
            changes[key] = parse_n_jobs(value)
        elif key == "max_cells":
            changes[key] = parse_max_cells(value)
        elif key == "oos_start":
            changes[key] = parse_oos_start(value)
        else:
            raise ConfigError(f"unknown override {key!r}")
    check_date_window(changes.get("start", spec.start), changes.get("end", spec.end))
    check_cell_count(grid, changes.get("max_cells", spec.max_cells))
    headline = {k: v for k, v in spec.headline.items() if repr(v) in map(repr, grid[k])}
    return replace(spec, grid=grid, headline=headline, **changes)


def _axis_text(axis: str, values: list[Any]) -> str:
    if axis == "fractile":
        return ";".join(f"{lo:g},{hi:g}" for lo, hi in values)
    return ",".join(
        "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in values
    )


def reproduce_command(spec: ExperimentSpec, snapshot_id: str) -> str:
    """The ``mlflow run`` command that reruns exactly this spec (every grid axis explicit)."""
    import shlex

    parts = ["mlflow", "run", ".", "--env-manager", "local"]
    if spec.source_path:
        parts += ["-P", f"experiment={spec.source_path}"]
    params = {
        "signal": spec.signal,
        "snapshot": snapshot_id,
        "lags": _axis_text("lag", spec.grid["lag"]),
        "residualize": _axis_text("residualize", spec.grid["residualize"]),
        "weight": _axis_text("weight", spec.grid["weight"]),
        "fractile": _axis_text("fractile", spec.grid["fractile"]),
        "tc_bps": _axis_text("tc_bps", spec.grid["tc_bps"]),
        "tc_model": _axis_text("tc_model", spec.grid["tc_model"]),
        "mincos": _axis_text("mincos", spec.grid["mincos"]),
        "rebalance": _axis_text("rebalance", spec.grid["rebalance"]),
        "baselines": str(spec.baselines).lower(),
    }
    if spec.start:
        params["start"] = spec.start
    if spec.end:
        params["end"] = spec.end
    if spec.max_cells != DEFAULT_MAX_CELLS:
        params["max_cells"] = str(spec.max_cells)
    if spec.oos_start is not None:
        params["oos_start"] = oos_text(spec.oos_start)
    for key, value in params.items():
        parts += ["-P", f"{key}={value}"]
    return shlex.join(parts)
