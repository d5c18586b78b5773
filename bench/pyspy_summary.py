"""Where a profiled step's time went: py-spy's raw (collapsed) stacks summed per thread.

Run: `.venv/bin/python bench/pyspy_summary.py /tmp/prof/train.txt --title "Training, 40M"`
(the file from `py-spy record --format raw`; `--top` rows per table). Prints Markdown: per
thread (named by the function it was started with, "main", or the first Python function a
native thread called), its samples, then the functions
it spent them in (self: the sampled frame itself), then crossline's own functions inclusively
(any frame of the stack), so the product's part of a library's time is seen.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

# The product's packages: their frames are the ones the inclusive table lists.
OWN = re.compile(r"\((?:plant|training|predictions|mlmodels|crossline)/")
# Frames a thread starts with before its own function (threading's and concurrent's).
STARTERS = ("Thread._bootstrap", "Thread._bootstrap_inner", "Thread.run", "_worker (")


def parse(path: Path) -> dict[str, list[tuple[list[str], int]]]:
    """Stacks per thread: {thread: [(frames, samples), ...]}."""
    threads: dict[str, list[tuple[list[str], int]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:  # a sample outside Python (no frame to name)
            continue
        body = frames
        while body and body[0].startswith(STARTERS):
            body = body[1:]
        if body is not frames:
            name = (body or frames)[0].split(" (")[0]
        elif frames[0].startswith("<module>"):
            name = "main"
        else:  # Python called from a thread Python did not start (pyarrow's I/O threads)
            name = f"native thread, in {frames[0].split(' (')[0]}"
        threads[name].append((frames, int(count)))
    return threads


def summary(path: Path, title: str, top: int) -> str:
    threads = parse(path)
    total = sum(n for stacks in threads.values() for _, n in stacks)
    lines = [f"## {title}", "", f"{total:,} samples (running only) from `{path.name}`.", "",
             "| thread | samples | share |", "|---|---:|---:|"]
    ranked = sorted(threads.items(), key=lambda item: -sum(n for _, n in item[1]))
    for name, stacks in ranked:
        count = sum(n for _, n in stacks)
        lines.append(f"| {name} | {count:,} | {count / total:.1%} |")
    for name, stacks in ranked:
        count = sum(n for _, n in stacks)
        if count < total * 0.02:
            continue
        own_self, inclusive = Counter(), Counter()
        for frames, n in stacks:
            own_self[frames[-1]] += n
            for frame in set(frames):
                if OWN.search(frame):
                    inclusive[frame] += n
        lines += ["", f"**{name}** ({count:,} samples): self", "", "| self | function |",
                  "|---:|---|"]
        lines += [f"| {n / count:.1%} | `{f}` |" for f, n in own_self.most_common(top)]
        lines += ["", "| inclusive | crossline function |", "|---:|---|"]
        lines += [f"| {n / count:.1%} | `{f}` |" for f, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--title", default="Profile")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summary(args.raw, args.title, args.top), end="")


if __name__ == "__main__":
    main()
