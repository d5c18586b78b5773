"""AppConfigs giving Django's contrib apps and django-q2 ObjectId primary keys on MongoDB."""

from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig
from django_q.apps import DjangoQConfig

from crossline.admin_site import CrosslineAdminConfig

OBJECT_ID = "django_mongodb_backend.fields.ObjectIdAutoField"


class MongoAdminConfig(CrosslineAdminConfig):
    default_auto_field = OBJECT_ID


class MongoAuthConfig(AuthConfig):
    default_auto_field = OBJECT_ID


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = OBJECT_ID


class MongoDjangoQConfig(DjangoQConfig):
    default_auto_field = OBJECT_ID
