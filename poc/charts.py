"""Charts as inline SVG strings (matplotlib, Agg; no files, no external URLs).

Each function takes plain pandas/numpy data and returns an ``<svg>`` element
that a template embeds as-is. Text is kept as SVG ``<text>`` (escaped by
matplotlib's SVG writer) so charts stay small and searchable.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

PALETTE = [
    "#1f4e79",
    "#c0504d",
    "#4f8f3a",
    "#8064a2",
    "#d08b1c",
    "#2aa1b3",
    "#7f7f7f",
    "#b5651d",
    "#3b7dd8",
    "#a83279",
    "#5c9e6f",
    "#e0a400",
]
_STYLE = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    # The figure keeps its size (legends and colour bars fit inside it), so every chart of
    # one width shows its 9-pt text at one size on the page (see _to_svg).
    "figure.constrained_layout.use": True,
}
# Figure widths in inches: a chart across the page, and one in half of it (.grid2). The
# page shows a chart at its natural size (1 pt = 1 pt), scaled down only in a narrow pane.
FULL_WIDTH = 8.0
HALF_WIDTH = 5.4
_MAX_POINTS = 1500  # longer series are thinned for drawing (values, not the data, are sampled)
_MAX_POINTS_MANY = 400  # ... and harder when a chart overlays many series (page weight)


def _to_svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")  # no tight bbox: the width is the figure's
    plt.close(fig)
    text = buffer.getvalue()
    start = text.find("<svg")
    svg = re.sub(r"<metadata>.*?</metadata>", "", text[start:], flags=re.DOTALL)
    # Keep the width (natural size; CSS max-width shrinks it in a narrow pane) and the
    # viewBox; drop the height so the page derives it from the viewBox when it shrinks.
    svg = re.sub(r'(<svg[^>]*?)\sheight="[^"]*"', r"\1", svg, count=1)
    return svg.replace("<svg", '<svg class="chart" role="img"', 1)


def _thin(frame: pd.DataFrame | pd.Series, max_points: int = _MAX_POINTS):
    step = max(1, int(np.ceil(len(frame) / max_points)))
    if step == 1:
        return frame
    keep = np.zeros(len(frame), dtype=bool)
    keep[::step] = True
    keep[-1] = True
    return frame[keep]


def colors(n: int) -> list[str]:
    """``n`` distinct colours: the house palette, then tab20's, then evenly spaced hues."""
    base = list(PALETTE)
    if n <= len(base):
        return base[:n]
    extra = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab20").colors]
    pool = base + [c for c in extra if c not in base]
    if n <= len(pool):
        return pool[:n]
    hues = plt.get_cmap("hsv")(np.linspace(0, 1, n - len(pool), endpoint=False))
    return pool + [matplotlib.colors.to_hex(c) for c in hues]


def _legend_outside(ax, n: int) -> None:
    # Outside the plot area (right of it): a legend inside hides the curves it names.
    ax.legend(
        fontsize=7,
        ncol=1 if n <= 18 else 2,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
    )


def _date_axis(fig, ax) -> None:
    # Concise year/month labels that never overlap (matplotlib picks the density).
    locator = matplotlib.dates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))


def line_chart(
    series: dict[str, pd.Series],
    title: str,
    ylabel: str = "",
    highlight: str | None = None,
    percent: bool = False,
    size=(8.0, 3.6),
    legend_loc: str = "outside",
    log_scale: bool = False,
) -> str:
    """Lines sharing a date axis; ``highlight`` is drawn thicker and on top.

    ``log_scale`` plots values on a logarithmic axis (for a NAV or growth-of-1
    curve, which must be positive): equal vertical distances are equal
    percentage moves, so a curve that rose 300-fold stays readable. The legend
    sits outside the plot area unless ``legend_loc`` names a matplotlib spot.
    """
    palette = colors(len(series))
    max_points = _MAX_POINTS if len(series) <= 4 else _MAX_POINTS_MANY
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=size)
        drawn = 0
        for i, (name, s) in enumerate(series.items()):
            s = _thin(s.dropna(), max_points)
            if log_scale:
                s = s[s > 0]
            if s.empty:
                continue
            bold = name == highlight
            ax.plot(
                s.index,
                s.to_numpy(),
                label=name,
                lw=2.2 if bold else 1.0,
                alpha=1.0 if bold or highlight is None else 0.8,
                zorder=3 if bold else 2,
                color=palette[i],
            )
            drawn += 1
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold", wrap=True)
        ax.set_ylabel(ylabel)
        if log_scale:
            ax.set_yscale("log")
        elif percent:
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        if drawn and isinstance(next(iter(series.values())).index, pd.DatetimeIndex):
            _date_axis(fig, ax)
        if len(series) > 1:
            if legend_loc == "outside":
                _legend_outside(ax, len(series))
            else:
                ax.legend(fontsize=7, ncol=3, frameon=False, loc=legend_loc)
        return _to_svg(fig)


def area_chart(
    series: pd.Series,
    title: str,
    color: str = "#c0504d",
    size=(8.0, 2.4),
    percent: bool = True,
) -> str:
    """A filled area below zero (drawdowns); the y axis is scaled to the data."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=size)
        s = _thin(series.dropna())
        ax.fill_between(s.index, s.to_numpy(), 0.0, color=color, alpha=0.45, lw=0)
        ax.plot(s.index, s.to_numpy(), color=color, lw=0.8)
        if percent:
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        if isinstance(s.index, pd.DatetimeIndex) and len(s):
            _date_axis(fig, ax)
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold", wrap=True)
        return _to_svg(fig)


def bar_chart(
    labels,
    values,
    title: str,
    ylabel: str = "",
    percent: bool = False,
    size=(HALF_WIDTH, 3.0),
    horizontal: bool = False,
    second_colour=None,
) -> str:
    """Bars coloured by sign, or in the second colour where ``second_colour`` is True.

    ``second_colour`` (booleans, one per bar) marks bars to tell apart without making
    their values negative: a histogram's shares stay positive on the axis.
    """
    values = np.asarray(values, dtype=float)
    marked = np.nan_to_num(values) < 0 if second_colour is None else np.asarray(second_colour, bool)
    colors = np.where(marked, PALETTE[1], PALETTE[0])
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=size)
        labels = [str(x) for x in labels]
        positions = np.arange(len(labels))  # numeric positions: labels are text, never parsed
        if horizontal:
            ax.barh(positions, np.nan_to_num(values), color=colors)
            ax.set_yticks(positions, labels)
            ax.axvline(0, color="#333", lw=0.6)
            ax.invert_yaxis()
        else:
            ax.bar(positions, np.nan_to_num(values), color=colors)
            long_labels = max((len(x) for x in labels), default=0) * len(labels) > 50
            ax.set_xticks(
                positions,
                labels,
                rotation=30 if long_labels else 0,
                ha="right" if long_labels else "center",
            )
            ax.axhline(0, color="#333", lw=0.6)
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold", wrap=True)
        ax.set_ylabel(ylabel)
        if percent:
            axis = ax.xaxis if horizontal else ax.yaxis
            # Few, short labels: a long value axis of "-10.00%0.00%10.00%" runs together.
            axis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5))
            axis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=None))
        return _to_svg(fig)


def stacked_area_chart(weights: pd.DataFrame, title: str, size=(8.0, 3.6)) -> str:
    """Weights over time stacked (columns = assets); cash is what is left below 1."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=size)
        w = _thin(weights.fillna(0.0))
        ax.stackplot(
            w.index, w.to_numpy().T, labels=list(w.columns), colors=colors(w.shape[1]), lw=0
        )
        ax.set_ylim(0, max(1.0, float(w.sum(axis=1).max()) if len(w) else 1.0))
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold", wrap=True)
        if isinstance(w.index, pd.DatetimeIndex) and len(w):
            _date_axis(fig, ax)
        _legend_outside(ax, w.shape[1])
        return _to_svg(fig)


def heatmap(
    matrix: pd.DataFrame,
    title: str,
    size=(8.0, 4.0),
    cmap: str = "Blues",
    symmetric: bool = False,
    percent: bool = False,
) -> str:
    """A matrix as colours (rows top to bottom, columns left to right).

    ``symmetric`` centres a diverging colour map on zero (gains and losses
    equally saturated); ``percent`` labels the colour bar as percentages.
    """
    with plt.rc_context({**_STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=size)
        data = matrix.to_numpy(dtype=float)
        limits = {}
        if symmetric:
            bound = float(np.nanmax(np.abs(data))) if np.isfinite(data).any() else 1.0
            limits = {"vmin": -bound, "vmax": bound}
        im = ax.imshow(data, aspect="auto", cmap=cmap, interpolation="nearest", **limits)
        ax.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index], fontsize=7)
        step = max(1, len(matrix.columns) // 12)
        ax.set_xticks(
            range(0, len(matrix.columns), step),
            [str(c) for c in matrix.columns[::step]],
            fontsize=7,
            rotation=45,
        )
        bar = fig.colorbar(im, ax=ax, fraction=0.03)
        if percent:
            bar.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold", wrap=True)
        return _to_svg(fig)


def histogram(
    values,
    title: str,
    bins: int = 60,
    percent: bool = False,
    size=(HALF_WIDTH, 3.0),
    marks: dict[str, float] | None = None,
) -> str:
    """Distribution of ``values`` (finite ones) with labelled vertical ``marks``."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=size)
        if x.size:
            ax.hist(x, bins=bins, color=PALETTE[0], alpha=0.8)
        for i, (label, value) in enumerate((marks or {}).items()):
            if np.isfinite(value):
                ax.axvline(value, color=PALETTE[(i + 1) % len(PALETTE)], lw=1.2, label=label)
        if marks:
            _legend_outside(ax, len(marks))
        if percent:
            ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=1))
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold", wrap=True)
        ax.set_ylabel("days")
        return _to_svg(fig)


def choice_chart(
    starts: pd.Series, choices: pd.Series, categories: list[str], title: str, size=(8.0, 2.8)
) -> str:
    """Which category was chosen in each window: a step line over categorical rows.

    ``starts`` are the windows' first dates, ``choices`` the chosen category of each
    (None = no choice, drawn as a gap); ``categories`` fixes the row order.
    """
    position = {c: i for i, c in enumerate(categories)}
    y = np.array([position.get(c, np.nan) for c in choices], dtype=float)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(size[0], max(size[1], 0.35 * len(categories) + 1.0)))
        x = pd.DatetimeIndex(starts)
        ax.step(x, y, where="post", color=PALETTE[0], lw=1.2)
        ax.scatter(x, y, color=PALETTE[0], s=14, zorder=3)
        ax.set_yticks(range(len(categories)), categories, fontsize=7)
        ax.set_ylim(-0.5, len(categories) - 0.5)
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold", wrap=True)
        return _to_svg(fig)
