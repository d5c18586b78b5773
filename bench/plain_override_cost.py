"""What deciding the plain approach's override costs at plant scale: `fitting.ranks_better`
for 9 kinds on 12,000 judged vehicles, by the point comparison (confidence 0) and by 500
paired resamples (confidence 0.9), in CPU seconds and peak traced memory.

Run: `nice -n 19 .venv/bin/python bench/plain_override_cost.py` (figures in
bench/results/fail_plain_override.md).
"""

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.pipeline.fitting import ranks_better

KINDS, VEHICLES = 9, 12_000


def main() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(VEHICLES) < 0.02).astype(int)
    chosen = rng.random(VEHICLES) + 0.5 * y
    plain = chosen + rng.normal(scale=0.05, size=VEHICLES)
    for label, confidence in (("point comparison", 0), ("500 paired resamples", 0.9)):
        started = time.process_time()
        tracemalloc.start()
        for _ in range(KINDS):
            # Whichever of the two leads: the resamples run only when plain's AP is higher.
            ranks_better(y, plain, chosen, confidence) or ranks_better(y, chosen, plain, confidence)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"{label}: {KINDS} kinds x {VEHICLES:,} judged vehicles ({y.sum()} positives): "
              f"{time.process_time() - started:.2f} CPU s, peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
