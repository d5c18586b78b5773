"""The quality bench's report across worlds: per world, size and kind, crossline and the plain
approach as shares of the truth's PR-AUC, the paired bootstrap of their difference, which kinds
got no model and why, and the bars crossline is judged by."""

from __future__ import annotations

from statistics import mean

WORLD_NAMES = ("demo", "small_deviations", "interactions")
WORLD_TITLES = {
    "demo": "The demo's generator (plant/demo.py): a few strong tests per group",
    "small_deviations": "Many small deviations (bench/worlds/small_deviations.py)",
    "interactions": "Interactions and shifts over time (bench/worlds/interactions.py)",
}
# The bars: the fail model's share of truth's PR-AUC; the judged positives a group needs to be
# compared with the plain approach; the prevalence (among all of a seed's vehicles) counted as
# "about 5%" for the bar that such a group gets an eligible model.
FAIL_RATIO_BAR = 0.97
MIN_TEST_POSITIVES = 30
ABOUT_FIVE_PERCENT = (0.03, 0.075)


def merge(earlier: list[dict], measured: list[dict]) -> list[dict]:
    """Earlier measurements, those of the same world, size and seed replaced by `measured`."""

    def key(entry: dict) -> tuple:
        return entry["world"], entry["knrs"], entry["seed"]

    fresh = {key(entry) for entry in measured}
    kept = [entry for entry in earlier if key(entry) not in fresh]
    order = {name: i for i, name in enumerate(WORLD_NAMES)}
    return sorted(kept + measured, key=lambda e: (order.get(e["world"], 99), *key(e)[1:]))


def judged(row: dict) -> bool:
    """Whether a kind is compared with the plain approach: a group with enough positives among
    the judged vehicles, and a plain model beside it."""
    return (
        row["kind"] != "fail"
        and row["test_positives"] >= MIN_TEST_POSITIVES
        and row.get("against_plain_95") is not None
    )


def verdict(row: dict) -> str:
    """Crossline against plain by the 95% interval of their difference: below (all of it under
    zero), better (all of it over zero), or as good."""
    if not judged(row):
        return "not judged"
    low, high = row["against_plain_95"]
    return "below" if high < 0 else "better" if low > 0 else "as good"


def fail_ratio(entry: dict) -> float | None:
    row = next((r for r in entry["kinds"] if r["kind"] == "fail"), None)
    return None if row is None else row["ratio"]


def about_five_percent(entry: dict) -> list[tuple[str, float, bool, str | None]]:
    """The groups about 5% of the seed's vehicles have: (kind, prevalence, eligible, why it
    has no model or None)."""
    low, high = ABOUT_FIVE_PERCENT
    eligible = {row["kind"]: row["eligible"] for row in entry["kinds"]}
    return [
        (kind, share, eligible.get(kind, False), entry["no_model"].get(kind))
        for kind, share in sorted(entry["prevalence_all"].items())
        if kind != "fail" and low <= share <= high
    ]


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _interval(bounds: list[float] | None) -> str:
    return "" if bounds is None else f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"


def _groups(entries: list[dict]) -> dict[tuple[str, int], list[dict]]:
    """Entries by (world, size), in report order."""
    grouped: dict[tuple[str, int], list[dict]] = {}
    for entry in merge([], entries):
        grouped.setdefault((entry["world"], entry["knrs"]), []).append(entry)
    return grouped


def _bars_table(grouped: dict[tuple[str, int], list[dict]]) -> list[str]:
    lines = [
        "| world | vehicles | seeds | groups with ≥ 30 judged positives at least as good as plain "
        f"(95%) | fail model ≥ {FAIL_RATIO_BAR} of truth | groups of about 5% with an eligible "
        "model |",
        "|---|---|---|---|---|---|",
    ]
    for (world, knrs), entries in grouped.items():
        rows = [row for entry in entries for row in entry["kinds"] if judged(row)]
        held = sum(verdict(row) != "below" for row in rows)
        fails = [fail_ratio(entry) for entry in entries]
        reached = sum(ratio is not None and ratio >= FAIL_RATIO_BAR for ratio in fails)
        fives = [five for entry in entries for five in about_five_percent(entry)]
        lines.append(
            f"| {world} | {knrs} | {len(entries)} | {held} of {len(rows)} | {reached} of "
            f"{len(entries)} | {sum(five[2] for five in fives)} of {len(fives)} |"
        )
    return lines


def _summary_table(entries: list[dict]) -> list[str]:
    lines = [
        "| kind | seeds with a version | test positives (mean) | crossline / truth (mean, "
        "lowest) | plain / truth (mean) | truth PR-AUC (mean) | judged | below plain | better "
        "than plain | eligible |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    kinds = sorted({row["kind"] for e in entries for row in e["kinds"]},
                   key=lambda k: (k != "fail", len(k), k))
    for kind in kinds:
        rows = [row for e in entries for row in e["kinds"] if row["kind"] == kind]
        ratios = [row["ratio"] for row in rows if row["ratio"] is not None]
        plains = [row["plain_ratio"] for row in rows if row["plain_ratio"] is not None]
        truths = [row["truth_pr_auc"] for row in rows if row["truth_pr_auc"] is not None]
        verdicts = [verdict(row) for row in rows]
        lines.append(
            f"| {kind} | {len(rows)} of {len(entries)} | "
            f"{mean(row['test_positives'] for row in rows):.0f} | "
            + (f"{mean(ratios):.3f}, {min(ratios):.3f}" if ratios else "")
            + f" | {_number(mean(plains) if plains else None)} | "
            f"{_number(mean(truths) if truths else None)} | "
            f"{len(rows) - verdicts.count('not judged')} | {verdicts.count('below')} | "
            f"{verdicts.count('better')} | {sum(row['eligible'] for row in rows)} |"
        )
    return lines


def _seed_table(entries: list[dict]) -> list[str]:
    lines = [
        "| seed | kind | test positives | prevalence | crossline / truth | plain / truth | "
        "truth PR-AUC | tie-fair crossline / truth | tie-fair plain / truth | crossline − "
        "plain, 95% | against plain | model |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in entries:
        for row in entry["kinds"]:
            model = (
                f"active: {row['estimator']}"
                if row["active"]
                else f"none, {entry['no_model'].get(row['kind'], '')}"
            )
            lines.append(
                f"| {entry['seed']} | {row['kind']} | {row['test_positives']} | "
                f"{row['prevalence']:.3f} | {_number(row['ratio'])} | "
                f"{_number(row['plain_ratio'])} | {_number(row['truth_pr_auc'])} | "
                f"{_number(row['expected_ratio'])} | {_number(row['plain_expected_ratio'])} | "
                f"{_interval(row.get('against_plain_95'))} | {verdict(row)} | {model} |"
            )
        versioned = {row["kind"] for row in entry["kinds"]}
        for kind, reason in sorted(entry["no_model"].items()):
            if kind not in versioned:
                lines.append(f"| {entry['seed']} | {kind} | | | | | | | | | | none, {reason} |")
    return lines


def _seed_notes(entries: list[dict]) -> list[str]:
    lines = []
    for entry in entries:
        below = [
            f"{row['kind']} {_interval(row['against_plain_95'])}"
            for row in entry["kinds"]
            if verdict(row) == "below"
        ]
        ratio = fail_ratio(entry)
        fives = [
            f"{kind} ({share:.1%}) " + ("eligible" if eligible else f"no model ({reason})")
            for kind, share, eligible, reason in about_five_percent(entry)
        ]
        lines.append(
            f"- seed {entry['seed']}: import {entry['import_seconds']:.0f} s, `train --wait` "
            f"{entry['train_seconds']:.0f} s, plain {entry['plain_seconds']:.0f} s; fail model "
            f"{_number(ratio)} of truth"
            + (" (below the bar)" if ratio is None or ratio < FAIL_RATIO_BAR else "")
            + "; below plain: "
            + ("; ".join(below) or "none")
            + "; about 5%: "
            + ("; ".join(fives) or "none")
            + "; no model: "
            + ("; ".join(f"{k} ({why})" for k, why in sorted(entry["no_model"].items()))
               or "none")
            + "."
        )
    return lines


def worlds_report(entries: list[dict]) -> str:
    """The Markdown report of every measured world, size and seed."""
    grouped = _groups(entries)
    databases = sorted({entry["database"] for entry in entries})
    versions = sorted(
        {
            f"{e['commit']} (product code of {e['product_commit']}"
            + (", with uncommitted changes" if e["uncommitted_changes"] else "")
            + ")"
            for e in entries
        }
    )
    lines = [
        f"# crossline judged in three worlds ({', '.join(databases)})",
        "",
        "Each world's data come from its generator (bench/worlds/) with a seed no parameter was "
        "chosen on, go through the product (`import_data`, `train --wait`, which activates what "
        "the gate allows) on a throwaway database, and every registered version is scored "
        "through `predict_positive` on the run's test set (the latest fifth of the vehicles by "
        "production time). Crossline / truth and plain / truth: PR-AUC (scikit-learn's average "
        "precision) as a share of the PR-AUC of truth.csv's probabilities on the same vehicles; "
        "plain = `bench/plain_reference.py` (a pivot of every test's value and NOK flag, "
        "HistGradientBoosting with its defaults) on the same split. Tie-fair: average precision "
        "over every order of tied scores (`bench/ranking.py`). Crossline − plain, 95%: the "
        "2.5th and 97.5th percentiles of the tie-fair average precision's difference over 1000 "
        "paired resamples of the test vehicles; a group with at least "
        f"{MIN_TEST_POSITIVES} positives among them is judged: below plain when the whole "
        "interval is under zero, better when it is over zero, as good otherwise. Prevalence: "
        "the test vehicles'; a group counts as about 5% when "
        f"{ABOUT_FIVE_PERCENT[0]:.0%}–{ABOUT_FIVE_PERCENT[1]:.1%} of all of the seed's "
        "vehicles have it. No model: the kind was not trained (too few positives in the "
        "training period) or its version is below the activation gate (reason quoted).",
        "",
        f"Measured on: {'; '.join(versions)}.",
        "",
        "## Bars",
        "",
        *_bars_table(grouped),
    ]
    for world in dict.fromkeys(world for world, _ in grouped):
        lines += ["", f"## {WORLD_TITLES.get(world, world)}"]
        for (name, knrs), sized in grouped.items():
            if name != world:
                continue
            seeds = ", ".join(str(entry["seed"]) for entry in sized)
            lines += [
                "",
                f"### {knrs} vehicles, seeds {seeds}",
                "",
                *_summary_table(sized),
                "",
                *_seed_table(sized),
                "",
                *_seed_notes(sized),
            ]
    return "\n".join(lines) + "\n"
