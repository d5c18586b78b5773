"""The groups crossline creates, and the data migrations that give them permissions.

Each app grants its own permissions to a group in a migration of its own
(`migrations.RunPython(*grant(...))`), so that an app adding a permission later adds one
migration and nothing else. Both migration trees (SQLite and MongoDB) call the same functions.
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_permission_codename

# Activates versions, overrides the gate, archives, edits threshold policies, deletes data.
QUALITY_LEAD = "Quality lead"

MigrationFunction = Callable[[Any, Any], None]


def grant(
    app_label: str, codenames: Iterable[str], *, group: str = QUALITY_LEAD
) -> tuple[MigrationFunction, MigrationFunction]:
    """The forward and backward functions of a migration giving `group` (created if missing)
    these permissions of `app_label`'s models, and taking them back.

    Django creates permissions after all migrations (`post_migrate`): on a fresh installation
    they do not exist yet when this runs, so the permissions named are created here first, as
    `post_migrate` would, from the migration's state of the models (an upgrade already has the
    default ones; those of `Meta.permissions` are new either way).
    """
    codenames = tuple(codenames)

    def forward(apps: Any, schema_editor: Any) -> None:
        using = schema_editor.connection.alias
        found = create_permissions(apps, app_label, codenames, using)
        missing = set(codenames) - {permission.codename for permission in found}
        if missing:
            raise LookupError(f"No permissions {sorted(missing)} on {app_label}'s models.")
        Group = apps.get_model("auth", "Group")
        holder, _ = Group.objects.using(using).get_or_create(name=group)
        holder.permissions.add(*found)

    def backward(apps: Any, schema_editor: Any) -> None:
        using = schema_editor.connection.alias
        Group = apps.get_model("auth", "Group")
        holder = Group.objects.using(using).filter(name=group).first()
        if holder is not None:
            holder.permissions.remove(*_permissions(apps, app_label, codenames, using))

    return forward, backward


def create_permissions(
    apps: Any, app_label: str, codenames: tuple[str, ...], using: str
) -> list[Any]:
    """The permissions named, of `app_label`'s models in the migration's state, created (with
    their models' content types) where missing.

    Only the models named get a content type here: creating every model's would stop an
    earlier app's migration that moves a content type to this app (it moves only onto none).
    """
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    found = []
    for model in apps.get_app_config(app_label).get_models():
        opts = model._meta
        defaults = [
            (get_permission_codename(action, opts), f"Can {action} {opts.verbose_name_raw}")
            for action in opts.default_permissions
        ]
        for codename, name in [*defaults, *opts.permissions]:
            if codename not in codenames:
                continue
            content_type, _ = ContentType.objects.using(using).get_or_create(
                app_label=app_label, model=opts.model_name
            )
            permission, _ = Permission.objects.using(using).get_or_create(
                content_type=content_type, codename=codename, defaults={"name": name}
            )
            found.append(permission)
    return found


def _permissions(apps: Any, app_label: str, codenames: tuple[str, ...], using: str) -> Any:
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.using(using).filter(
        content_type__app_label=app_label, codename__in=codenames
    )
