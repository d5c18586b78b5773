"""django-mongodb-backend's query compilers; writes that pin one document by id go as one."""

from typing import Any

from bson import ObjectId
from django.core.exceptions import EmptyResultSet
from django.db.models.sql.constants import MULTI
from django_mongodb_backend import compiler as mongo
from django_mongodb_backend.query import wrap_database_errors

# Django looks every compiler up in this module by name.
SQLCompiler = mongo.SQLCompiler
SQLInsertCompiler = mongo.SQLInsertCompiler
SQLAggregateCompiler = mongo.SQLAggregateCompiler


def pins_one_document(criteria: dict[str, Any]) -> bool:
    """Whether a filter names one document by id, alone or within a top-level `$and`."""
    if isinstance(criteria.get("_id"), ObjectId):
        return True
    return any(
        isinstance(part, dict) and isinstance(part.get("_id"), ObjectId)
        for part in criteria.get("$and", ())
    )


class SQLUpdateCompiler(mongo.SQLUpdateCompiler):
    @wrap_database_errors
    def update(self, criteria: dict[str, Any], pipeline: Any) -> int:
        method = "update_one" if pins_one_document(criteria) else "update_many"
        return getattr(self.collection, method)(
            criteria, pipeline, session=self.connection.session
        ).matched_count


class SQLDeleteCompiler(mongo.SQLDeleteCompiler):
    def execute_sql(self, result_type: str = MULTI) -> int:
        try:
            query = self.build_query()
        except EmptyResultSet:
            return 0
        if self.subqueries or not pins_one_document(query.match_mql):
            return query.delete()
        return self._delete_one(query.match_mql)

    @wrap_database_errors
    def _delete_one(self, criteria: dict[str, Any]) -> int:
        return self.collection.delete_one(criteria, session=self.connection.session).deleted_count
