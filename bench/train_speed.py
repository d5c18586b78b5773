"""Benchmark: the default training pipeline's wall time, CPU time and peak memory on one data set.

Run in three steps (each a separate process, so that peak memory is the pipeline's own):
    nice -n 10 .venv/bin/python manage.py generate_demo_data --knrs 26000 --out DATA --seed 3
    nice -n 10 .venv/bin/python bench/train_speed.py prepare DATA
    nice -n 10 .venv/bin/python bench/train_speed.py run DATA [--root TREE] [--label NAME]
`prepare` normalises the exports to Parquet with the importer, as an import stores them;
`run` times `run_pipeline` of the default definition of the code tree at `--root` (default:
this one; another checkout gives the "before" figure) and appends a row to
bench/results/train_speed.md.

Beside the plain reference, from one `make bench` run of the train and plain steps:
    BENCH_SIZES=plant:1M,default:1M BENCH_STEPS=import,train,plain \\
        BENCH_PLAIN_SIZES=plant:1M,default:1M BENCH_OUT=NAME \\
        nice -n 10 .venv/bin/python bench/run.py
    .venv/bin/python bench/train_speed.py beside NAME --label LABEL
`beside` appends each data set's `train --wait` and plain reference CPU seconds, read from
bench/results/NAME.json, to the second table of bench/results/train_speed.md.
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def prepare(data: Path) -> None:
    """Write results.parquet and defects.parquet beside the demo exports."""
    sys.path.insert(0, str(HERE))
    import pyarrow.parquet as pq

    from plant.readers.columns import SCHEMAS
    from plant.readers.report import ValidationReport
    from plant.readers.sniff import sniff_export
    from plant.readers.validation import chunk_to_table, iter_clean_chunks

    for kind, name in (("results", "results.csv.gz"), ("defects", "defects.csv")):
        report = ValidationReport(kind=kind, filename=name)
        writer = pq.ParquetWriter(data / f"{kind}.parquet", SCHEMAS[kind])
        info = sniff_export(data / name, filename=name, kind=kind)
        for chunk in iter_clean_chunks(info, report=report):
            writer.write_table(chunk_to_table(chunk, kind=kind))
        writer.close()
        print(f"{kind}: {report.rows_accepted:,} rows")


def run(data: Path, root: Path, label: str) -> None:
    """Time the default pipeline of the tree at `root` on the prepared Parquet files."""
    sys.path.insert(0, str(root))
    import pyarrow.parquet as pq

    from training.pipeline.definition import load_definition
    from training.pipeline.runner import run_pipeline

    definition = load_definition("default")
    rows = pq.ParquetFile(data / "results.parquet").metadata.num_rows
    steps: list[str] = []
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = run_pipeline(
        definition,
        {"results_files": [data / "results.parquet"], "defects_files": [data / "defects.parquet"]},
        log=steps.append,
        keep=["result"],
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = outcome["result"]
    first = next(iter(result["models"].values()))
    knrs = first["n_train"] + first["n_test"]
    kinds = len(result["models"])
    train_step = next((s for s in steps if s.startswith("step train_models")), "")
    row = (
        f"| {label} | {rows:,} | {knrs:,} | {kinds} | {wall:.1f} | {cpu:.1f} | {peak_mib:,.0f} "
        f"| {train_step.removeprefix('step ')} |"
    )
    target = HERE / "bench" / "results" / "train_speed.md"
    if not target.exists():
        target.write_text(
            "# Training speed: the default pipeline on one machine\n\n"
            "`bench/train_speed.py` (see its docstring); demo data from `manage.py "
            "generate_demo_data --knrs 26000 --seed 3` (about 1M result rows), prepared as an "
            "import stores it. Shared 2-core machine with other jobs running, `nice -n 10`: "
            "compare rows of one run, not absolute figures across runs.\n\n"
            "| code | result rows | KNRs | kinds | wall s | CPU s | peak MiB | train_models |\n"
            "|---|---|---|---|---|---|---|---|\n"
        )
    with target.open("a") as handle:
        handle.write(row + "\n")
    print(row)
    print(json.dumps({k: v["threshold"] for k, v in result["models"].items()}))


BESIDE_HEADER = (
    "\n## Beside the plain reference\n\n"
    "`bench/train_speed.py beside` (see its docstring): the whole `train --wait` command "
    "(features, candidates on the judged blocks, refits, evaluation, registration with "
    "permutation importance) and `bench/plain_reference.py`, each in a process of its own, "
    "on the same generated exports in one `bench/run.py` run (seed 7).\n\n"
    "| code | data | KNRs | train CPU s | plain CPU s | CPU ratio | train wall s | plain wall s "
    "| bench results |\n"
    "|---|---|---|---|---|---|---|---|---|\n"
)


def beside(name: str, label: str) -> None:
    """Append each data set's training and plain reference CPU seconds from one bench run."""
    data = json.loads((HERE / "bench" / "results" / f"{name}.json").read_text())
    target = HERE / "bench" / "results" / "train_speed.md"
    text = target.read_text()
    if BESIDE_HEADER not in text:
        text += BESIDE_HEADER
    for run in data["runs"]:
        train, plain = run.get("train") or {}, run.get("plain") or {}
        if "cpu_s" not in train or "cpu_s" not in plain:
            continue
        rows = run["size"]
        size = f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows:,}"
        text += (
            f"| {label} | {size} {run['shape']} | {run['knrs']:,} | {train['cpu_s']:.1f} "
            f"| {plain['cpu_s']:.1f} | {train['cpu_s'] / plain['cpu_s']:.2f}× "
            f"| {train['wall_s']:.1f} | {plain['wall_s']:.1f} | `{name}.md` |\n"
        )
    target.write_text(text)
    print(text[text.index(BESIDE_HEADER):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["prepare", "run", "beside"], help="What to do.")
    parser.add_argument(
        "data", type=Path, help="Folder with the demo exports (beside: the bench run's name)."
    )
    parser.add_argument("--root", type=Path, default=HERE, help="Code tree to time.")
    parser.add_argument("--label", default="this tree", help="Name of the row.")
    args = parser.parse_args()
    if args.action == "prepare":
        prepare(args.data)
    elif args.action == "beside":
        beside(str(args.data), args.label)
    else:
        run(args.data, args.root.resolve(), args.label)


if __name__ == "__main__":
    main()
