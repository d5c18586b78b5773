"""Between MongoDB tests, put the database back to what migrations left instead of flushing it.

django-mongodb-backend has no transactions, so Django's TestCase falls back to a `flush` after
every test: it empties every collection, then re-emits `post_migrate`, which re-creates the
content types and permissions. On mongoeco each of those inserts scans the whole collection
for the compound unique indexes, so that re-creation cost about 1 s a test (1.2 s of teardown
in all, against 0.1 s now), and the rows migrations' data steps wrote (the default indicated
tests) were not re-created at all.

Instead: record the documents migrations left (`MigratedState.capture`, once per session), and
after each test empty every other collection and rewrite only those recorded collections whose
documents a test changed. Each test still starts from exactly what migrations created, with
the same `_id`s, as on a database that rolls back.
"""

import contextlib
from collections.abc import Iterator

import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from django.apps import apps
from django.core.management.color import no_style
from django.core.management.sql import sql_flush
from django.db import connections
from django.test import TransactionTestCase

# Raw documents compare byte for byte: any change to a recorded document is seen.
RAW = CodecOptions(document_class=RawBSONDocument)


class MigratedState:
    """The documents migrations left in one database, by collection (empty ones left out)."""

    def __init__(self, alias: str, documents: dict[str, list[RawBSONDocument]]):
        self.alias = alias
        self.documents = documents

    @classmethod
    def capture(cls, alias: str) -> "MigratedState":
        database = connections[alias].database
        documents = {}
        for name in _flushed_collections(alias):
            stored = _documents(database, name)
            if stored:
                documents[name] = stored
        return cls(alias, documents)

    def restore(self) -> None:
        """Empty every collection `flush` would, except recorded ones a test left as they were."""
        connection = connections[self.alias]
        database = connection.database
        changed = [
            name for name, kept in self.documents.items() if _documents(database, name) != kept
        ]
        others = [name for name in _flushed_collections(self.alias) if name not in self.documents]
        connection.ops.execute_sql_flush(others + changed)
        for name in changed:
            database.get_collection(name, codec_options=RAW).insert_many(self.documents[name])
        if apps.is_installed("django.contrib.contenttypes"):
            # As `post_migrate` does after a flush: no cached content type outlives its row.
            from django.contrib.contenttypes.models import ContentType

            ContentType.objects.clear_cache()

    @contextlib.contextmanager
    def replacing_flush(self) -> Iterator[None]:
        """While active, a test's teardown restores this state instead of flushing."""
        flush = TransactionTestCase._fixture_teardown
        state = self

        def _fixture_teardown(test_case: TransactionTestCase) -> None:
            databases = test_case._databases_names(include_mirrors=False)
            if (
                test_case.available_apps is not None
                or test_case.serialized_rollback
                or list(databases) != [state.alias]
            ):
                # Partial flushes and serialized rollbacks keep Django's own behaviour.
                flush(test_case)
                return
            state.restore()

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(TransactionTestCase, "_fixture_teardown", _fixture_teardown)
            yield


def _flushed_collections(alias: str) -> list[str]:
    """The collections Django's `flush` command empties in this database."""
    return list(sql_flush(no_style(), connections[alias]))


def _documents(database, name: str) -> list[RawBSONDocument]:
    return list(database.get_collection(name, codec_options=RAW).find({}).sort("_id", 1))
