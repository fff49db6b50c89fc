"""Plot requests/s against clients from a ``run.py`` JSONL file, as a PNG.

Usage: ``python benchmarks/plot.py FILE.jsonl [-o OUT.png]`` (needs
``pip install matplotlib``). One line per server: the median of its runs at
each C, with bars from the slowest to the fastest run; the Go original's
figures from shared/reference/perf-anchors.md (same mode, pinned or not, and
same pipeline depth) are drawn as a dashed reference line where there are
any (perf-anchors has none for pipelined and unpinned); ``--no-go`` leaves
it out, so that the Python servers fill the height. A point where some run
had errors (kvbench's count: never served, dropped, wrong) is ringed and
says how many.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

# requests/s of the Go original (perf-anchors, medians, its own Go load tool),
# by (pinned, iterations in flight per connection)
GO_ANCHOR = {
    (True, 1): {1: 197_664, 10: 462_553, 100: 486_233, 1000: 301_789},
    (False, 1): {1: 219_000, 10: 495_000, 100: 484_000, 1000: 306_000},
    (True, 16): {10: 692_000, 100: 495_000},
}
STYLES = {  # server -> (label, colour, marker)
    "reference": ("partA reference (threads + queues)", "tab:blue", "o"),
    "asyncio": ("plain asyncio", "tab:green", "s"),
    "naive": ("naive threads + queues (no batching)", "tab:red", "^"),
    "before": ("partA reference before (run.py --before)", "tab:gray", "D"),
}


Rates = dict[str, dict[int, list[float]]]  # server -> C -> requests/s of each run


def load(path: Path) -> tuple[Rates, dict[tuple[str, int], int], tuple[bool, int]]:
    """requests/s per server per C, runs with errors per cell, and the mode:
    (pinned or not, iterations in flight per connection)."""
    rates: Rates = {}
    erred: dict[tuple[str, int], int] = {}
    mode = (False, 1)
    for line in path.read_text().splitlines():
        run = json.loads(line)
        if "requests_per_s" not in run:
            continue
        bench = run["bench"]
        mode = (bench["pinned"], bench.get("pipeline", 1))
        per_c = rates.setdefault(bench["server"], {})
        per_c.setdefault(bench["clients"], []).append(run["requests_per_s"])
        cell = (bench["server"], bench["clients"])
        erred[cell] = erred.get(cell, 0) + bool(run["errors"]["total"])
    return rates, erred, mode


def plot(
    rates: Rates, erred: dict, mode: tuple[bool, int], out: Path, with_go: bool = True
) -> None:
    plt.rcParams.update({"font.size": 15})
    fig, ax = plt.subplots(figsize=(11, 6.5), layout="constrained")
    pinned, pipeline = mode
    go = GO_ANCHOR.get(mode, {}) if with_go else {}
    if go:
        ax.plot(
            list(go),
            list(go.values()),
            "k--",
            lw=2,
            marker="D",
            label="Go original (earlier measurement, Go load tool)",
        )
    for name, (label, colour, marker) in STYLES.items():
        if name not in rates:
            continue
        cs = sorted(rates[name])
        mid = [statistics.median(rates[name][c]) for c in cs]
        low = [m - min(rates[name][c]) for m, c in zip(mid, cs, strict=True)]
        high = [max(rates[name][c]) - m for m, c in zip(mid, cs, strict=True)]
        ax.errorbar(
            cs,
            mid,
            yerr=[low, high],
            color=colour,
            marker=marker,
            lw=2.5,
            markersize=9,
            capsize=5,
            label=label,
        )
        mark_errors(ax, name, rates[name], erred, colour)
    ax.set_xscale("log")
    ax.set_xticks(sorted({c for per_c in rates.values() for c in per_c} | set(go)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y / 1000:g}k"))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("concurrent clients (log scale)")
    ax.set_ylabel("requests/s (median; bars: min–max)")
    where = "server pinned to 1 core" if pinned else "unpinned, load on the same cores"
    flight = f", {pipeline} iterations in flight" if pipeline > 1 else ""
    ax.set_title(f"P0 key-value server throughput\n(2-core machine, {where}{flight})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="center" if go else "best", fontsize=12, framealpha=0.9)
    fig.savefig(out, dpi=120)


def mark_errors(ax: Any, name: str, per_c: dict, erred: dict, colour: str) -> None:
    """Ring and label every point where some run had errors (kvbench's count)."""
    for c, runs in per_c.items():
        if erred.get((name, c)):
            y = statistics.median(runs)
            ax.plot(c, y, "o", ms=22, mfc="none", mec=colour, mew=2)
            ax.annotate(
                f"{erred[(name, c)]} of {len(runs)} runs had errors",
                (c, y),
                xytext=(-20, 36 if name == "naive" else 14),
                textcoords="offset points",
                ha="right",
                color=colour,
                fontsize=12,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jsonl", type=Path)
    parser.add_argument("-o", "--out", type=Path, help="default: FILE with .png")
    parser.add_argument("--no-go", action="store_true", help="no Go original line")
    args = parser.parse_args(argv)
    rates, erred, mode = load(args.jsonl)
    out = args.out or args.jsonl.with_suffix(".png")
    plot(rates, erred, mode, out, with_go=not args.no_go)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
