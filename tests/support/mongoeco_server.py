"""A MongoDB wire-protocol server for the test suite: mongoeco on a free loopback port, shimmed.

Run as a script: `python -m tests.support.mongoeco_server URI_FILE` writes the server's
`mongodb://` URI to URI_FILE once it accepts connections, and serves until terminated.
It runs in its own process so that django-q2's worker processes can reach it too.

mongoeco 4.11.0 (pinned) has four gaps against a real mongod; the shims below close them and
`check_shims` fails loudly if an upgrade moves the internals they touch.
"""

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from bson import ObjectId
from mongoeco.core.aggregation.extensions import register_aggregation_expression_operator
from mongoeco.engines.memory import MemoryEngine
from mongoeco.wire.executor import WireCommandExecutor
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer


def _not_operator(document, spec, variables, dialect, context) -> bool:
    """MongoDB's `$not` expression: the operand's truthiness negated (null, missing, 0: false)."""
    # MongoDB accepts both `{"$not": [expr]}` and `{"$not": expr}`.
    if isinstance(spec, list):
        (operand,) = context.require_expression_args("$not", spec, 1, 1)
    else:
        operand = spec
    value = context.evaluate_expression_with_missing(document, operand, variables)
    falsy = value is context.missing_sentinel or value is None or value is False or value == 0
    return falsy


def _is_inclusion(spec: Any) -> bool:
    """A nested projection of fields only (`{"app_label": 1}`), no expression."""
    if isinstance(spec, dict):
        return bool(spec) and all(
            not key.startswith("$") and _is_inclusion(value) for key, value in spec.items()
        )
    return isinstance(spec, (bool, int)) and spec in (0, 1)


def _flat_projection(spec: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        if isinstance(value, dict) and _is_inclusion(value):
            flat.update(_flat_projection(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def flatten_projections(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nested `$project` fields as dotted paths (`{"a": {"b": 1}}` → `{"a.b": 1}`), which
    mongod reads alike; mongoeco took the nested form for literal values (a field projected
    across a join, e.g. Django's permission checks, came back as 1). Into sub-pipelines too."""
    stages = []
    for stage in pipeline:
        if "$project" in stage and isinstance(stage["$project"], dict):
            stage = {**stage, "$project": _flat_projection(stage["$project"])}
        elif "$lookup" in stage and "pipeline" in stage["$lookup"]:
            lookup = stage["$lookup"]
            stage = {**stage, "$lookup": {**lookup,
                                          "pipeline": flatten_projections(lookup["pipeline"])}}
        elif "$facet" in stage:
            stage = {"$facet": {name: flatten_projections(sub)
                                for name, sub in stage["$facet"].items()}}
        stages.append(stage)
    return stages


def install_shims() -> None:
    """Close mongoeco's four gaps: `buildinfo` spelling, nested `$project` fields, `$not`, and
    the O(n) `_id` scan."""
    build_context = WireCommandExecutor._build_request_context

    def build_request_context(self, body: dict[str, Any], **kwargs: Any):
        # pymongo's server_info() spells the command `buildinfo`; mongod accepts both spellings.
        if "buildinfo" in body:
            body = {("buildInfo" if key == "buildinfo" else key): v for key, v in body.items()}
        if isinstance(body.get("pipeline"), list):
            body = {**body, "pipeline": flatten_projections(body["pipeline"])}
        return build_context(self, body, **kwargs)

    WireCommandExecutor._build_request_context = build_request_context

    register_aggregation_expression_operator("$not", _not_operator)

    ensure_unique = MemoryEngine._ensure_unique_indexes

    def ensure_unique_indexes(self, db_name, coll_name, candidate, **kwargs):
        # A fresh ObjectId cannot collide with a stored one except through the storage-key
        # check, which still runs; the full-collection scan made every insert O(n).
        if isinstance(candidate.get("_id"), ObjectId):
            kwargs["scan_payload_id"] = False
        return ensure_unique(self, db_name, coll_name, candidate, **kwargs)

    MemoryEngine._ensure_unique_indexes = ensure_unique_indexes


def check_shims() -> None:
    """Fail loudly when the mongoeco internals the shims patch have moved."""
    import inspect

    params = inspect.signature(MemoryEngine._ensure_unique_indexes).parameters
    if "scan_payload_id" not in params or "body" not in str(
        inspect.signature(WireCommandExecutor._build_request_context)
    ):
        raise RuntimeError("mongoeco internals changed: review tests/support/mongoeco_server.py")


async def serve(uri_file: Path) -> None:
    """Start the server, publish its URI, and serve until SIGTERM or SIGINT."""
    server = AsyncMongoEcoProxyServer(engine=MemoryEngine(), host="127.0.0.1", port=0)
    address = await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tmp = uri_file.with_suffix(".tmp")
    # The database name travels in the URI's path, as crossline's settings expect.
    tmp.write_text(address.uri.replace("/?", "/crossline?", 1))
    tmp.replace(uri_file)
    await stop.wait()
    await server.close()


if __name__ == "__main__":
    check_shims()
    install_shims()
    asyncio.run(serve(Path(sys.argv[1])))
