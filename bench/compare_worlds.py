"""Paired comparison of two world-bench runs (`bench/train_quality.py --report NAME`) on the
same worlds, sizes and seeds: each kind's crossline PR-AUC over truth's, and the model chosen.

Run: `.venv/bin/python bench/compare_worlds.py BEFORE.json AFTER.json [--out NAME]`; writes
bench/results/NAME.md (default: compare_worlds).
"""

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compare(before: list[dict], after: list[dict]) -> str:
    """A Markdown table of every kind both runs scored, and a summary line."""
    later = {(m["world"], m["knrs"], m["seed"]): m for m in after}
    lines = [
        "| world | vehicles | seed | kind | before: crossline / truth | after | after − before "
        "| before: model | after: model |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    differences, same = [], 0
    for first in sorted(before, key=lambda m: (m["world"], m["knrs"], m["seed"])):
        key = (first["world"], first["knrs"], first["seed"])
        if key not in later:
            continue
        kinds = {k["kind"]: k for k in later[key]["kinds"]}
        for old in first["kinds"]:
            new = kinds.get(old["kind"], {})
            if old.get("ratio") is None or new.get("ratio") is None:
                continue
            difference = new["ratio"] - old["ratio"]
            differences.append(difference)
            same += old.get("estimator") == new.get("estimator")
            lines.append(
                f"| {key[0]} | {key[1]} | {key[2]} | {old['kind']} | {old['ratio']:.4f} "
                f"| {new['ratio']:.4f} | {difference:+.4f} | {old.get('estimator') or '–'} "
                f"| {new.get('estimator') or '–'} |"
            )
    if not differences:
        return "No kind was scored by both runs.\n"
    lines.append("")
    lines.append(
        f"{len(differences)} kinds paired; the same model chosen for {same}; mean difference "
        f"{sum(differences) / len(differences):+.4f}, largest "
        f"{max(differences, key=abs):+.4f}."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--out", default="compare_worlds")
    parser.add_argument("--title", default="Two world-bench runs, kind by kind")
    args = parser.parse_args()
    before, after = (json.loads(path.read_text()) for path in (args.before, args.after))
    commits = {m.get("commit") for m in before}, {m.get("commit") for m in after}
    text = (
        f"# {args.title}\n\n`bench/compare_worlds.py {args.before.name} {args.after.name}`: "
        f"before {', '.join(sorted(map(str, commits[0])))}, after "
        f"{', '.join(sorted(map(str, commits[1])))}.\n\n" + compare(before, after)
    )
    (ROOT / "bench" / "results" / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
