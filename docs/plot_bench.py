"""Draw the README's benchmark table as docs/_static/bench.png.

    python docs/plot_bench.py [--out docs/_static/bench.png]

The figures are read from the table in README.md's "Benchmarks" section (two
days of measurements per cell, "day 1 / day 2", a range as "a-b"), so the plot
cannot drift from the table: re-run this after changing it and commit the PNG.
Needs matplotlib (the ``docs`` extra).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALE = {"": 1.0, "k": 1e3, "M": 1e6}


def parse_value(text: str) -> tuple[float, float] | None:
    """'664k-695k' -> (664e3, 695e3); '2.07M' -> (2.07e6, 2.07e6); '—' -> None."""
    text = text.strip()
    if not text or text in {"—", "-"}:
        return None
    nums = re.findall(r"(\d+(?:\.\d+)?)([kM]?)", text)
    if not nums or len(nums) > 2:
        raise ValueError(f"cannot read a figure from {text!r}")
    values = [float(n) * SCALE[u] for n, u in nums]
    return min(values), max(values)


def read_table(readme: Path) -> tuple[list[str], dict[str, list[list[tuple[float, float] | None]]]]:
    """The servers (column heads) and, per row label, per server, its days' figures."""
    text = readme.read_text()
    section = text.split("\n## Benchmarks", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    head = [c.strip().strip("`") for c in rows[0].strip("|").split("|")][1:]
    table: dict[str, list[list[tuple[float, float] | None]]] = {}
    for line in rows[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        label, values = cells[0], cells[1:]
        per_server = []
        for cell in values:
            cell = re.sub(r"\s*(msg/s|GB/s|KiB)\s*", " ", cell).strip()
            per_server.append([parse_value(day) for day in cell.split("/")] if cell else [])
        table[label] = per_server
    return head, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "_static" / "bench.png")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers, table = read_table(args.readme)
    panels = [  # (row label prefix, title, unit divisor, unit)
        ("64 B echo", "64 B echo, 100 connections × 10 in flight", 1e6, "million msg/s"),
        ("1 MiB echo", "1 MiB echo, one connection", 1.0, "GB/s"),
        ("memory per idle", "memory per idle connection (lower is better)", 1.0, "KiB"),
    ]
    colours = ["#33658a", "#86bbd8"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, (prefix, title, div, unit) in zip(axes, panels):
        label = next(k for k in table if k.startswith(prefix))
        for day in range(2):
            xs, mids, errs = [], [], []
            for i, days in enumerate(table[label]):
                if day < len(days) and days[day] is not None:
                    lo, hi = days[day]
                    xs.append(i + (day - 0.5) * 0.38)
                    mids.append((lo + hi) / 2 / div)
                    errs.append((hi - lo) / 2 / div)
            bars = ax.bar(
                xs,
                mids,
                width=0.38,
                yerr=errs,
                capsize=3,
                color=colours[day],
                label=f"day {day + 1}",
            )
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
        ax.set_xticks(range(len(servers)))
        ax.set_xticklabels(
            [
                s.replace("minimal C epoll echo", "minimal C\nepoll echo").replace(
                    "Python callbacks", "Python\ncallbacks"
                )
                for s in servers
            ],
            fontsize=8,
        )
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(unit)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle("pylws_ffi echo benchmarks (2-core VM, loopback; README.md)", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110, metadata={"Software": None})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
