"""Benchmark: the default training pipeline's peak memory per step, and its CPU time.

Data as for bench/train_speed.py (`generate_demo_data` then `train_speed.py prepare DATA`):
    nice -n 19 .venv/bin/python bench/train_memory.py DATA [--root TREE] [--label NAME]
DATA's results*.parquet and defects*.parquet are the datasets (several files: several imports).
A thread samples the process's resident memory every 20 ms; the row appended to
bench/results/train_memory.md gives the peak, the step it happened in, and each step's peak
and CPU seconds. `--root` times another checkout (the "before" figure).
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def rss_mib() -> float:
    """Resident memory of this process now."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / MIB


class Sampler(threading.Thread):
    """Peak resident memory per pipeline step, sampled every 20 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.step = "start"
        self.peaks: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._since = time.process_time()
        self.done = threading.Event()

    def enter(self, name: str, index: int = 0, total: int = 0) -> None:
        now = time.process_time()
        self.cpu[self.step] = self.cpu.get(self.step, 0.0) + now - self._since
        self._since = now
        self.sample()
        self.step = name

    def sample(self) -> None:
        self.peaks[self.step] = max(self.peaks.get(self.step, 0.0), rss_mib())

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.sample()


def run(data: Path, root: Path, label: str) -> None:
    """Run the default pipeline of the tree at `root` on DATA's Parquet files."""
    sys.path.insert(0, str(root))
    import pyarrow.parquet as pq

    from training.pipeline.definition import load_definition
    from training.pipeline.runner import run_pipeline

    definition = load_definition("default")
    results = sorted(data.glob("results*.parquet"))
    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in results)
    sampler = Sampler()
    sampler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = run_pipeline(
        definition,
        {"results_files": results, "defects_files": sorted(data.glob("defects*.parquet"))},
        on_step=sampler.enter,
        keep=["result"],
    )
    sampler.enter("end")
    sampler.done.set()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_step = max(sampler.peaks, key=sampler.peaks.__getitem__)
    kinds = len(outcome["result"]["models"])
    steps = ", ".join(
        f"{name} {sampler.peaks[name]:,.0f} MiB / {sampler.cpu.get(name, 0.0):.1f} s"
        for name in sampler.peaks
        if name not in ("start", "end")
    )
    row = (
        f"| {label} | {rows:,} | {kinds} | {wall:.1f} | {cpu:.1f} | "
        f"{sampler.peaks[peak_step]:,.0f} | {peak_step} | {steps} |"
    )
    target = HERE / "bench" / "results" / "train_memory.md"
    if not target.exists():
        target.write_text(
            "# Training memory: the default pipeline's peak resident memory per step\n\n"
            "`bench/train_memory.py` (see its docstring); demo data from `generate_demo_data "
            "--seed 3`, prepared as an import stores it. Shared 2-core machine, `nice -n 19`.\n\n"
            "| code | result rows | kinds | wall s | CPU s | peak MiB | peak in | per step: "
            "peak MiB / CPU s |\n|---|---|---|---|---|---|---|---|\n"
        )
    with target.open("a") as handle:
        handle.write(row + "\n")
    print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="Folder with results.parquet and defects.parquet.")
    parser.add_argument("--root", type=Path, default=HERE, help="Code tree to measure.")
    parser.add_argument("--label", default="this tree", help="Name of the row.")
    args = parser.parse_args()
    run(args.data, args.root.resolve(), args.label)


if __name__ == "__main__":
    main()
