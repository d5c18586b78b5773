"""Write one world's plant exports and truth: `python -m bench.worlds WORLD --knrs N --out DIR`."""

import argparse
from pathlib import Path

from bench.worlds.registry import WORLDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("world", choices=sorted(WORLDS), help="Which generator.")
    parser.add_argument("--knrs", type=int, default=3000, help="Vehicles to generate.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument("--out", type=Path, required=True, help="Folder for the files.")
    args = parser.parse_args()
    paths = WORLDS[args.world](knrs=args.knrs, out_dir=args.out, seed=args.seed)
    for kind, path in paths.items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
