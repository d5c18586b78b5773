"""The generators the quality bench judges crossline in, by name."""

from collections.abc import Callable
from pathlib import Path

from bench.worlds import interactions, small_deviations
from plant.demo import generate_demo_data

Generate = Callable[..., dict[str, Path]]  # (knrs=, out_dir=, seed=) → results/defects/truth
WORLDS: dict[str, Generate] = {
    "demo": generate_demo_data,
    "small_deviations": small_deviations.generate,
    "interactions": interactions.generate,
}
