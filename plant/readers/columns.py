"""The two plant exports' columns and the Arrow schemas their accepted rows are kept in."""

import pyarrow as pa

RESULTS = "results"
DEFECTS = "defects"
KINDS = (RESULTS, DEFECTS)

RESULTS_COLUMNS = ("KNR", "NAME", "ID", "STATUS", "UNIT", "VALUE_ID", "VALUE", "DATA")
DEFECTS_COLUMNS = (
    "KNR",
    "MODELO",
    "COR",
    "MOTOR",
    "ESTACAO",
    "USUARIO",
    "HALLE",
    "FALHA",
    "S_GROUP_ID",
    "DATA",
)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    RESULTS: RESULTS_COLUMNS,
    DEFECTS: ("KNR", "S_GROUP_ID", "DATA"),
}
OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {RESULTS: RESULTS_COLUMNS, DEFECTS: DEFECTS_COLUMNS}
DEFECT_TEXT_COLUMNS = ("MODELO", "COR", "MOTOR", "ESTACAO", "USUARIO", "HALLE", "FALHA")

RESULTS_SCHEMA = pa.schema(
    [
        ("KNR", pa.string()),
        ("NAME", pa.string()),
        ("ID", pa.int64()),
        ("STATUS", pa.int64()),
        ("UNIT", pa.string()),
        ("VALUE_ID", pa.float64()),
        ("VALUE", pa.float64()),
        ("DATA", pa.timestamp("ms")),
    ]
)
DEFECTS_SCHEMA = pa.schema(
    [(name, pa.string()) for name in DEFECTS_COLUMNS[:-2]]
    + [("S_GROUP_ID", pa.int64()), ("DATA", pa.timestamp("ms"))]
)
SCHEMAS: dict[str, pa.Schema] = {RESULTS: RESULTS_SCHEMA, DEFECTS: DEFECTS_SCHEMA}
# Columns whose values repeat (vehicles, tests, codes, units, defect texts): the stored Parquet
# dictionary-encodes these only; measurements and times, nearly all distinct, are written
# plain (a dictionary tried on every page of them was a quarter of the Parquet writing).
REPEATED_COLUMNS: dict[str, list[str]] = {
    RESULTS: ["KNR", "NAME", "ID", "STATUS", "UNIT", "VALUE_ID"],
    DEFECTS: [name for name in DEFECTS_COLUMNS if name != "DATA"],
}
