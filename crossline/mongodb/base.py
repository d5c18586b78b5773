"""The database engine (`ENGINE: "crossline.mongodb"`): django-mongodb-backend's, own compilers."""

from django_mongodb_backend.base import DatabaseWrapper as MongoDatabaseWrapper
from django_mongodb_backend.operations import DatabaseOperations as MongoDatabaseOperations


class DatabaseOperations(MongoDatabaseOperations):
    compiler_module = "crossline.mongodb.compiler"


class DatabaseWrapper(MongoDatabaseWrapper):
    ops_class = DatabaseOperations
