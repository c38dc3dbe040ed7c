#!/usr/bin/env python3
"""Draws the headline chart of BENCHMARKS.md (benches/chart.png) from a
finished run: the load script's table (benches/load-results.md) and
criterion's estimates of the in-process request bench (target/criterion).
Run by benches/run.sh; needs matplotlib."""

import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_ratios():
    """(label, throughput relative to noop-axum) from the counter table of
    the load results (its "## Counter" section; a file without sections is
    one counter table)."""
    rows = []
    path = ROOT / "benches" / "load-results.md"
    lines = path.read_text().splitlines()
    sectioned = any(line.startswith("## ") for line in lines)
    in_counter = not sectioned
    for line in lines:
        if line.startswith("## "):
            in_counter = line[3:].lower().startswith("counter")
            continue
        if not in_counter:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] in ("app", "") or cells[0].startswith("-"):
            continue
        try:
            rows.append((cells[0], float(cells[3])))
        except ValueError:
            continue
    return rows


def request_overheads():
    """(label, ns above the no-session floor) from criterion's request group."""
    base = ROOT / "target" / "criterion" / "request"
    means = {}
    for est in base.glob("*/new/estimates.json"):
        means[est.parent.parent.name] = json.loads(est.read_text())["mean"]["point_estimate"]
    floor = means.pop("no_session", None)
    if floor is None:
        return []
    return sorted(((name, mean - floor) for name, mean in means.items()), key=lambda r: r[1])


def main():
    ratios = load_ratios()
    overheads = request_overheads()
    if not ratios or not overheads:
        sys.exit("chart.py: run the load script and the request bench first")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    labels = [r[0] for r in ratios]
    values = [r[1] for r in ratios]
    colors = ["#2b7bba" if l.startswith("ours") else "#999999" for l in labels]
    left.barh(labels, values, color=colors)
    left.axvline(1.0, color="black", linewidth=0.8)
    left.invert_yaxis()
    left.set_xlabel("throughput relative to the same axum app with no session")
    left.set_title("Counter app under load (wrk, 32 connections, one core)")
    for y, v in enumerate(values):
        left.text(v + 0.01, y, f"{v:.2f}", va="center", fontsize=8)
    names = [r[0] for r in overheads]
    nanos = [r[1] / 1000 for r in overheads]
    colors = ["#2b7bba" if n.startswith("ours") else "#999999" for n in names]
    right.barh(names, nanos, color=colors)
    right.invert_yaxis()
    right.set_xlabel("µs per request above the no-session handler (in-process)")
    right.set_title("Session cost per request, tower oneshot")
    for y, v in enumerate(nanos):
        right.text(v, y, f" {v:.2f}", va="center", fontsize=8)
    fig.tight_layout()
    out = ROOT / "benches" / "chart.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
