"""The chart of startup and tick cost against N, for both sides (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.report import figure

COLORS = {"beatcore": "tab:blue", "redbeat": "tab:red"}
NAMES = {"beatcore": "beatcore", "redbeat": "RedBeat"}

#: (panel title, y label, [(table row, scale, line style, legend suffix)])
PANELS: list[tuple[str, str, list[tuple[str, float, str, str]]]] = [
    (
        "Startup with N static entries",
        "seconds",
        [("startup cold (s)", 1.0, "-", "cold"), ("startup warm (s)", 1.0, "--", "warm")],
    ),
    (
        "Tick cost",
        "milliseconds per tick",
        [
            ("idle tick, interleaved (ms, median)", 1.0, "-", "nothing due (interleaved)"),
            ("tick, 1% due (ms)", 1.0, "--", "1% due"),
        ],
    ),
    (
        "Dispatch when all N are due",
        "microseconds per dispatched entry",
        [
            ("dispatch all, no publish (entries/s)", -1.0, "-", "publish excluded"),
            ("dispatch all, publish (entries/s)", -1.0, "--", "real publish"),
        ],
    ),
]


def draw(document: Mapping[str, Any], path: Path) -> Path:
    """Draw the three panels for every side and size in ``document``; return ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4.6))
    sizes = sorted(int(n) for n in document["sizes"])
    for ax, (title, ylabel, series) in zip(axes, PANELS, strict=True):
        for side in ("beatcore", "redbeat"):
            for row, scale, style, suffix in series:
                xs: list[int] = []
                ys: list[float] = []
                for n in sizes:
                    value = figure(document, side, n, row)
                    if value is None or value <= 0:
                        continue
                    xs.append(n)
                    # A negative scale marks a rate, drawn as its inverse in microseconds.
                    ys.append(1e6 / value if scale < 0 else value * scale)
                if xs:
                    ax.plot(
                        xs,
                        ys,
                        style,
                        marker="o",
                        color=COLORS[side],
                        label=f"{NAMES[side]}, {suffix}",
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("N entries")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="best", framealpha=0.8)
    machine = document.get("machine", {})
    fig.suptitle(
        f"beatcore vs RedBeat {machine.get('celery-redbeat', '')} — "
        f"{machine.get('nproc', '?')} cores, redis-server {machine.get('redis-server', '?')}, "
        f"{document.get('date', '')}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
