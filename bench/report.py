"""`make bench`'s results as bench/results/<name>.json and a Markdown table with the targets."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
STEPS = ("parse", "import", "train", "plain", "predict", "mongo_import")
GiB = 1024


def size_label(rows: int) -> str:
    return f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows / 1e3:g}k"


def ratio(value: float | None, reference: float | None) -> str:
    if not value or not reference:
        return ""
    return f"{value / reference:.2f}×"


def write_results(
    runs: list[dict[str, Any]], started: float, out: str, meta: dict | None = None
) -> None:
    """bench/results/<out>.json and the Markdown table <out>.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = meta or {
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": os.getloadavg(),
        "total_s": round(time.perf_counter() - started),
    }
    (RESULTS / f"{out}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    lines = [
        f"# `make bench`: {out}",
        "",
        f"{meta['machine']}, Python {meta['python']}, {meta['date']}, load average at the end "
        f"{meta['load_average'][0]:.1f} (wall times include waiting for a core when the machine "
        "is shared; CPU time is the process's own). Each step ran in a process of its own on a "
        "throwaway SQLite database; ratios are to the reference named in the row.",
        "",
        "| data | step | rows | KNRs | wall s | CPU s | peak MiB | rate | reference | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in runs:
        lines += table_rows(run)
    lines += ["", *growth(runs), "", *targets(runs), *parts(runs),
              f"Whole run: {meta['total_s']:,} s. Per-kind PR-AUC and every other figure: "
              f"`bench/results/{out}.json`.", ""]
    (RESULTS / f"{out}.md").write_text("\n".join(lines))


def table_rows(run: dict[str, Any]) -> list[str]:
    """The table's rows for one data set: one per step, and the vehicle page's after import."""
    label = f"{size_label(run['size'])} {run['shape']}"
    if run.get("database") == "mongodb":
        label += " (MongoDB)"
    lines = []
    if "error" in run.get("generate", {}):
        lines.append(f"| {label} | generate | | | | | | {run['generate']['error'][:80]} | | |")
    parse = run.get("parse", {})
    parse_rate = parse["rows"] / parse["wall_s"] if parse.get("wall_s") else None
    for step in STEPS:
        result = run.get(step)
        if result is None:
            continue
        if "error" in result:
            error = result["error"]
            if not error.startswith(("skipped", "timed out")):
                error = f"failed: {error}"
            lines.append(f"| {label} | {step} | | | | | | {error[:90]} | | |")
            continue
        rows = result.get("rows", "")
        rate, reference, versus = "", "", ""
        if step in ("import", "mongo_import"):
            rate_value = result["rows"] / result["wall_s"]
            cpu_rate = result["rows"] / result["cpu_s"]
            rate = f"{rate_value:,.0f} rows/s ({cpu_rate:,.0f}/CPU s)"
            if parse_rate and step == "import":
                parse_cpu_rate = parse["rows"] / parse["cpu_s"]
                reference = (f"pyarrow parse {parse_rate:,.0f} rows/s "
                             f"({parse_cpu_rate:,.0f}/CPU s)")
                cpu_ratio = ratio(cpu_rate, parse_cpu_rate)
                versus = f"{ratio(rate_value, parse_rate)} (CPU {cpu_ratio})"
        elif step == "parse":
            rate = f"{parse_rate:,.0f} rows/s"
        elif step == "train":
            plain = run.get("plain", {})
            rate = "PR-AUC " + ", ".join(f"{k} {v:.3f}" for k, v in result["pr_auc"].items()
                                         if k == "fail")
            if plain.get("wall_s"):
                reference = f"plain {plain['wall_s']:.0f} s ({plain['cpu_s']:.0f} CPU s)"
                versus = (f"{ratio(result['wall_s'], plain['wall_s'])} "
                          f"(CPU {ratio(result['cpu_s'], plain['cpu_s'])})")
                fail = plain.get("pr_auc", {}).get("fail")
                if fail and result["pr_auc"].get("fail"):
                    reference += f", PR-AUC fail {fail:.3f}"
                    versus += f"; quality {result['pr_auc']['fail'] / fail:.2f}×"
        elif step == "plain":
            truth = result.get("truth_pr_auc", {}).get("fail")
            mine = result.get("pr_auc", {}).get("fail")
            rate = f"PR-AUC fail {mine:.3f}" if mine else ""
            if truth:
                reference = f"truth PR-AUC fail {truth:.3f}"
                versus = ratio(mine, truth)
        elif step == "predict":
            cpu = (f" (CPU: p50 {result['p50_cpu_ms']} ms, p99 {result['p99_cpu_ms']} ms, "
                   f"cold {result['cold_cpu_ms']} ms)" if "p50_cpu_ms" in result else "")
            rate = (f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, cold "
                    f"{result['cold_ms']} ms{cpu}; batch {result['batch_knrs_per_s']:,} KNRs/s")
            rows = ""
        knrs = result.get("knrs", run.get("knrs"))
        rows_text = f"{rows:,}" if isinstance(rows, int) else ""
        knrs_text = f"{knrs:,}" if isinstance(knrs, int) else ""
        lines.append(
            f"| {label} | {step} | {rows_text} | {knrs_text} | {result.get('wall_s', '')} | "
            f"{result.get('cpu_s', '')} | {result.get('peak_mib', '')} | {rate} | "
            f"{reference} | {versus} |"
        )
        if step in ("import", "mongo_import") and "page_p50_ms" in result:
            lines.append(
                f"| {label} | vehicle page | | | | | | admin page p50 {result['page_p50_ms']} ms, "
                f"max {result['page_max_ms']} ms, cold {result['page_cold_ms']} ms (CPU p50 "
                f"{result['page_p50_cpu_ms']} ms); one KNR's stored rows p50 "
                f"{result['rows_p50_ms']} ms, max {result['rows_max_ms']} ms (CPU p50 "
                f"{result['rows_p50_cpu_ms']} ms) | | |"
            )
    return lines


def growth(runs: list[dict[str, Any]]) -> list[str]:
    """Per shape and step, smallest to largest size: the rows' ratio against the time's."""
    lines = []
    for shape in dict.fromkeys(r["shape"] for r in runs if r.get("database") != "mongodb"):
        sized = sorted((r for r in runs if r["shape"] == shape and r.get("database") != "mongodb"),
                       key=lambda r: r["size"])
        pieces = []
        for step in ("parse", "import", "train", "plain", "predict"):
            done = [r for r in sized if "error" not in r.get(step, {"error": ""})]
            if len(done) < 2:
                continue
            small, large = done[0], done[-1]
            if step == "predict":
                a, b = small[step]["p50_cpu_ms"], large[step]["p50_cpu_ms"]
                what = "p50 CPU per request"
            else:
                a, b = small[step]["cpu_s"], large[step]["cpu_s"]
                what = f"wall {ratio(large[step]['wall_s'], small[step]['wall_s']) or 'n/a'}, CPU"
            rows = large["size"] / small["size"]
            span = f"{size_label(small['size'])} → {size_label(large['size'])}"
            times = ratio(b, a) or "n/a"
            pieces.append(f"{step} {what} {times} for {rows:.1f}× the rows ({span})")
        if pieces:
            lines.append(f"Growth at the {shape} shape: " + "; ".join(pieces) + ".")
    return lines


def targets(runs: list[dict[str, Any]]) -> list[str]:
    """The targets of the plant-scale work against what this run measured, data set by data set."""
    rows = []

    def add(target: str, run: dict[str, Any], measured: str, met: bool) -> None:
        label = f"{size_label(run['size'])} {run['shape']}"
        rows.append(f"| {target} | {label} | {measured} | {'met' if met else '**not met**'} |")

    for run in (r for r in runs if r.get("database") != "mongodb"):
        result, parse = run.get("import", {}), run.get("parse", {})
        if result.get("wall_s"):
            rate = result["rows"] / result["wall_s"]
            add("import ≥ 500k rows/s wall", run, f"{rate:,.0f} rows/s", rate >= 500_000)
            add("import peak < 1 GiB", run, f"{result['peak_mib']:,.0f} MiB",
                result["peak_mib"] < GiB)
            if parse.get("wall_s"):
                share = rate / (parse["rows"] / parse["wall_s"])
                add("import ≥ 0.25 × pyarrow's parse (wall)", run, f"{share:.2f}×", share >= 0.25)
        if "page_p50_ms" in result:
            add("vehicle page < 50 ms", run, f"p50 {result['page_p50_ms']} ms, max "
                f"{result['page_max_ms']} ms", result["page_p50_ms"] < 50)
        predict = run.get("predict", {})
        if "p50_ms" in predict:
            add("one KNR over HTTP: p50 < 10 ms", run, f"{predict['p50_ms']} ms",
                predict["p50_ms"] < 10)
            add("one KNR over HTTP: p99 < 25 ms", run, f"{predict['p99_ms']} ms",
                predict["p99_ms"] < 25)
            add("one KNR over HTTP: cold < 1 s", run, f"{predict['cold_ms']:,.0f} ms",
                predict["cold_ms"] < 1000)
            add("batch ≥ 2,000 vehicles/s", run, f"{predict['batch_knrs_per_s']:,} /s",
                predict["batch_knrs_per_s"] >= 2000)
        train, plain = run.get("train", {}), run.get("plain", {})
        if train.get("wall_s") and run["shape"] == "plant" and run["size"] >= 40_000_000:
            add("training < 10 min within 8 GiB", run,
                f"{train['wall_s']:,.0f} s, {train['peak_mib']:,.0f} MiB",
                train["wall_s"] < 600 and train["peak_mib"] < 8 * GiB)
        if train.get("cpu_s") and plain.get("cpu_s") and run["shape"] == "plant":
            times = train["cpu_s"] / plain["cpu_s"]
            ours, theirs = train["pr_auc"].get("fail"), plain.get("pr_auc", {}).get("fail")
            better = bool(ours and theirs and ours > theirs)
            add("training ≤ 1.5 × plain CPU, better PR-AUC", run,
                f"{times:.2f}×, fail PR-AUC {ours} vs {theirs}", times <= 1.5 and better)
    if not rows:
        return []
    return ["## Targets", "", "| target | data | measured | |", "|---|---|---|---|", *rows, ""]


def parts(runs: list[dict[str, Any]]) -> list[str]:
    """Where a one-KNR request's CPU goes, per data set prediction was measured on."""
    measured = [r for r in runs if r.get("predict", {}).get("parts_cpu_ms")]
    if not measured:
        return []
    names = list(dict.fromkeys(n for r in measured for n in r["predict"]["parts_cpu_ms"]))
    labels = [f"{size_label(r['size'])} {r['shape']}" for r in measured]
    lines = ["## Where a one-KNR request's CPU goes (ms, median, each part called in-process)",
             "", "| part | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for name in names:
        values = [r["predict"]["parts_cpu_ms"].get(name, "") for r in measured]
        lines.append(f"| {name} | " + " | ".join(str(v) for v in values) + " |")
    return [*lines, ""]
