"""Bar and trend charts as SVG data URIs: drawn with matplotlib, no browser scripts, no CDN."""

from __future__ import annotations

import base64
import io
import logging
from typing import TYPE_CHECKING

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from contextlib import AbstractContextManager

    from matplotlib.axes import Axes
    from matplotlib.typing import RcKeyType

logger = logging.getLogger(__name__)

# Colours of the Dutch government's house style: dark blue for counts, orange to point out.
BLUE = "#154273"
LIGHT_BLUE = "#8fa8c8"
ORANGE = "#e17000"
GREY = "#6b6b6b"
GRID = "#e3e3e3"

_STYLE: dict[RcKeyType, object] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": GRID,
    "axes.labelcolor": GREY,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": GREY,
    "ytick.color": GREY,
    # Same data, same file: fixed ids instead of random ones.
    "svg.hashsalt": "heterdaad-digest",
    # Labels are names as organisations registered them: a '$' is a dollar, not TeX mathtext
    # (which set "$5 en $6" in italics, and raised on "$\\foo$", so no digest was made).
    "text.parse_math": False,
}


def style() -> AbstractContextManager[None]:
    """The digest's matplotlib settings, for this drawing only (no global state is changed)."""
    context: AbstractContextManager[None] = mpl.rc_context(_STYLE)
    return context


def data_uri(figure: Figure, fmt: str = "svg", dpi: int = 150) -> str:
    """The figure as a data URI, so the HTML carries its images inside."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight",
                   metadata={"Date": None} if fmt == "svg" else None)  # fmt: skip
    mime = "image/svg+xml" if fmt == "svg" else f"image/{fmt}"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def horizontal_bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    value_labels: Sequence[str] | None = None,
    width: float = 5.2,
) -> str:
    """One bar per category, first on top, with its value (or `value_labels`) after the bar."""
    with style():
        height = 0.6 + 0.28 * max(len(labels), 1)
        figure = Figure(figsize=(width, height))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))[::-1]
        axes.barh(positions, values, color=BLUE, height=0.7)
        axes.set_yticks(positions, labels)
        texts = value_labels if value_labels is not None else [f"{v:g}" for v in values]
        for position, value, label in zip(positions, values, texts, strict=True):
            axes.text(value, position, f" {label}", va="center", ha="left", color=GREY)
        axes.xaxis.set_visible(False)
        axes.spines[["bottom", "left"]].set_visible(False)
        axes.tick_params(axis="y", length=0)
        axes.set_xlim(0, max([*values, 1e-9]) * 1.18)
        return data_uri(figure)


def columns(
    labels: Sequence[str],
    values: Sequence[int],
    *,
    peak: bool = True,
    label_every: int = 1,
    width: float = 5.2,
) -> str:
    """One column per category in their own order; the busiest columns in orange."""
    with style():
        figure = Figure(figsize=(width, 2.4))
        axes = figure.add_subplot()
        top = max(values, default=0)
        colours = [ORANGE if peak and top and value == top else BLUE for value in values]
        positions = list(range(len(labels)))
        axes.bar(positions, values, color=colours, width=0.75)
        axes.set_xticks(positions[::label_every], labels[::label_every])
        axes.yaxis.grid(True, color=GRID)
        axes.set_axisbelow(True)
        axes.spines["left"].set_visible(False)
        axes.tick_params(axis="both", length=0)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        return data_uri(figure)


def trend(
    labels: Sequence[str],
    values: Sequence[int | None],
    *,
    ceiling: float,
    ceiling_label: str,
    no_data_label: str,
) -> str:
    """Monthly counts with the ambition's monthly ceiling; the last month stands out."""
    with style():
        figure = Figure(figsize=(10.4, 2.8))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        known = [0 if v is None else v for v in values]
        colours = [LIGHT_BLUE] * (len(values) - 1) + [BLUE]
        axes.bar(positions, known, color=colours, width=0.7)
        for position, value in zip(positions, values, strict=True):
            if value is None:
                axes.text(position, ceiling * 0.04, no_data_label, ha="center", va="bottom",
                          rotation=90, color=GREY, fontsize=7)  # fmt: skip
        _label_bars(axes, positions, values)
        axes.axhline(ceiling, color=ORANGE, linewidth=1.5, linestyle="--", label=ceiling_label)
        axes.legend(loc="upper left", frameon=False, fontsize=8, labelcolor=ORANGE)
        axes.set_xticks(positions, labels)
        axes.set_ylim(0, max([*known, ceiling]) * 1.3)
        axes.yaxis.grid(True, color=GRID)
        axes.set_axisbelow(True)
        axes.spines["left"].set_visible(False)
        axes.tick_params(axis="both", length=0)
        return data_uri(figure)


def calibration(
    stated: Sequence[float],
    confirmed: Sequence[float],
    intervals: Sequence[tuple[float, float]],
    judged: Sequence[int],
    groups: Sequence[str],
    *,
    x_label: str,
    y_label: str,
    diagonal_label: str,
) -> str:
    """A reliability diagram: the share confirmed against the chance stated, one point per
    band with its interval and its number judged; points under the diagonal overstate."""
    colours = dict(zip(dict.fromkeys(groups), (BLUE, ORANGE, GREY), strict=False))
    with style():
        figure = Figure(figsize=(4.2, 3.6))
        axes = figure.add_subplot()
        axes.plot([0, 1], [0, 1], color=GRID, linewidth=1.5, linestyle="--",
                  label=diagonal_label)  # fmt: skip
        for group, colour in colours.items():
            chosen = [i for i, g in enumerate(groups) if g == group]
            xs = [stated[i] for i in chosen]
            ys = [confirmed[i] for i in chosen]
            spread = [[ys[k] - intervals[i][0] for k, i in enumerate(chosen)],
                      [intervals[i][1] - ys[k] for k, i in enumerate(chosen)]]  # fmt: skip
            axes.errorbar(xs, ys, yerr=spread, fmt="o", color=colour, capsize=3, label=group)
            for x, y, i in zip(xs, ys, chosen, strict=True):
                axes.annotate(f"{judged[i]}", (x, y), xytext=(5, 4),
                              textcoords="offset points", color=GREY, fontsize=7)  # fmt: skip
        axes.set_xlim(0, 1.02)
        axes.set_ylim(0, 1.02)
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.grid(True, color=GRID)
        axes.set_axisbelow(True)
        axes.legend(loc="upper left", frameon=False, fontsize=8)
        return data_uri(figure)


def _label_bars(axes: Axes, positions: Sequence[int], values: Sequence[int | None]) -> None:
    for position, value in _known(positions, values):
        # A white box keeps the number readable where it meets the ceiling line.
        box = {"facecolor": "white", "edgecolor": "none", "pad": 0.6}
        axes.annotate(f"{value}", (position, value), xytext=(0, 3), textcoords="offset points",
                      va="bottom", ha="center", color=GREY, fontsize=8, zorder=3,
                      bbox=box)  # fmt: skip


def _known(positions: Sequence[int], values: Sequence[int | None]) -> Iterator[tuple[int, int]]:
    for position, value in zip(positions, values, strict=True):
        if value is not None:
            yield position, value
