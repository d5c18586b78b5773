"""What happened to an export's rows: counts, problems with examples, a content fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.core.util.hashing import combine_hash_arrays

from crossline.exceptions import InvalidUpload

# The first examples of each problem kept in a report.
MAX_EXAMPLES = 5

REJECTED = "rejected"
KEPT = "kept"
DROPPED = "dropped"


@dataclass
class ProblemCount:
    """How often one problem occurred, what was done about it, and the first few examples."""

    field: str
    action: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ValidationReport:
    """What happened to an export's rows; accumulates over the chunks of one file."""

    kind: str
    filename: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_dropped: int = 0
    values_unparseable: int = 0
    problems: dict[str, ProblemCount] = field(default_factory=dict)
    # Bytes of the file consumed so far (compressed, as stored): progress without a line count.
    bytes_read: int = 0
    _sums: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=np.uint64), repr=False)

    def add_problem(
        self,
        reason: str,
        *,
        field: str,
        action: str,
        mask: np.ndarray,
        rows: np.ndarray,
        values: pa.Array,
    ) -> None:
        """Count the rows where `mask` is set under `reason`, keeping the first few as examples."""
        count = int(np.count_nonzero(mask))
        if count == 0:
            return
        problem = self.problems.setdefault(reason, ProblemCount(field=field, action=action))
        problem.count += count
        room = MAX_EXAMPLES - len(problem.examples)
        if room <= 0:
            return
        where = np.flatnonzero(mask)[:room]
        for row, value in zip(rows[where].tolist(), values.take(where).to_pylist(), strict=True):
            problem.examples.append(
                {"row": int(row), "field": field, "value": None if value is None else str(value)}
            )

    def add_fingerprint(
        self, table: pa.Table, *, dictionaries: dict[str, pa.DictionaryArray] | None = None
    ) -> None:
        """Fold accepted rows into an order-independent fingerprint of the file's content.

        `dictionaries` may give text columns already dictionary-encoded (in the table's order).
        """
        hashes = row_hashes(table, dictionaries or {})
        # Sums wrap modulo 2**64 whatever the order; the second, of remixed hashes, makes a
        # collision of both sums between different contents vanishingly unlikely.
        with np.errstate(over="ignore"):
            self._sums[0] += hashes.sum(dtype=np.uint64)
            mixed = (hashes ^ (hashes >> np.uint64(31))) * np.uint64(0x9E3779B97F4A7C15)
            self._sums[1] += mixed.sum(dtype=np.uint64)

    def content_fingerprint(self) -> str:
        """SHA-256 of the kind, the accepted row count and the row hashes' sums."""
        text = f"{self.kind}:{self.rows_accepted}:{int(self._sums[0])}:{int(self._sums[1])}"
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-serialisable data."""
        return {
            "kind": self.kind,
            "filename": self.filename,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "rows_dropped": self.rows_dropped,
            "values_unparseable": self.values_unparseable,
            "problems": {
                reason: {
                    "field": p.field,
                    "action": p.action,
                    "count": p.count,
                    "examples": [dict(e) for e in p.examples],
                }
                for reason, p in self.problems.items()
            },
        }

    def summary_lines(self) -> list[str]:
        """Return a short human-readable account of the import, one line per fact."""
        return report_lines(self.to_dict())

    def refuse_if_nothing_accepted(self) -> None:
        """Raise InvalidUpload, naming the file and its problems, when no row was accepted."""
        if self.rows_accepted == 0:
            problems = "; ".join(f"{reason}: {p.count}" for reason, p in self.problems.items())
            raise InvalidUpload(
                f"{self.filename}: none of its {self.rows_read} rows was accepted "
                f"({problems or 'none'})."
            )


def row_hashes(table: pa.Table, dictionaries: dict[str, pa.DictionaryArray]) -> np.ndarray:
    """Each row's hash, as `pd.util.hash_pandas_object(table.to_pandas(), index=False)` gives
    it (the fingerprints of datasets already stored were made so), a text column's distinct
    values hashed once from its dictionary."""
    return combine_hash_arrays(
        (
            _dictionary_hashes(dictionaries[name]) if name in dictionaries
            else pd.util.hash_pandas_object(table[name].to_pandas(), index=False).to_numpy()
            for name in table.column_names
        ),
        table.num_columns,
    )


def _dictionary_hashes(encoded: pa.DictionaryArray) -> np.ndarray:
    """Each value's hash (pandas' hash of the text; u8max when missing)."""
    hashed = pd.util.hash_array(
        encoded.dictionary.to_numpy(zero_copy_only=False), categorize=False
    )
    codes = encoded.indices.fill_null(0).to_numpy()
    result = hashed.take(codes) if len(hashed) else np.zeros(len(codes), dtype=np.uint64)
    missing = encoded.indices.is_null().to_numpy(zero_copy_only=False)
    if missing.any():
        result[missing] = np.iinfo(np.uint64).max
    return result


def report_lines(report: dict[str, Any]) -> list[str]:
    """A validation report (as stored) in words: the counts, then one line per problem."""
    lines = [
        f"{report['rows_read']:,} rows read, {report['rows_accepted']:,} accepted, "
        f"{report['rows_rejected']:,} rejected, {report['rows_dropped']:,} dropped, "
        f"{report['values_unparseable']:,} values unparseable"
    ]
    for reason, problem in report.get("problems", {}).items():
        examples = ", ".join(f"row {e['row']}: {e['value']!r}" for e in problem["examples"])
        lines.append(f"{reason}: {problem['count']:,} rows {problem['action']} (e.g. {examples})")
    return lines
