"""Data migrations of plant, shared by both migration trees (SQLite and MongoDB)."""

from typing import Any

from crossline.groups import grant

# The models plant took over from the training app, tables and rows unchanged.
MODELS_FROM_TRAINING = ("dataset", "vehicle", "vehiclerecord")


def move_content_type(
    apps: Any, *, old: tuple[str, str], new: tuple[str, str], verbose_name: str = ""
) -> None:
    """Give a moved model's content type its new app label (and model name): its permissions,
    the groups and users holding them, and the admin's log entries follow it.

    A database migrated from scratch has no content types yet (post_migrate creates them after
    the migrations), and one that already has the new content type keeps it: nothing to move.
    """
    ContentType = apps.get_model("contenttypes", "ContentType")
    moving = ContentType.objects.filter(app_label=old[0], model=old[1]).first()
    if moving is None or ContentType.objects.filter(app_label=new[0], model=new[1]).exists():
        return
    ContentType.objects.filter(pk=moving.pk).update(app_label=new[0], model=new[1])
    if old[1] == new[1]:
        return
    # Renamed too: the default permissions' codenames name the model ("change_indicatedtest").
    Permission = apps.get_model("auth", "Permission")
    for pk, codename in Permission.objects.filter(content_type_id=moving.pk).values_list(
        "pk", "codename"
    ):
        action, _, model = codename.partition("_")
        if model == old[1]:
            Permission.objects.filter(pk=pk).update(
                codename=f"{action}_{new[1]}", name=f"Can {action} {verbose_name or new[1]}"
            )


def take_content_types_from_training(apps: Any, schema_editor: Any) -> None:
    """Datasets, vehicles and records are plant's: so are their content types."""
    for model in MODELS_FROM_TRAINING:
        move_content_type(apps, old=("training", model), new=("plant", model))


def give_content_types_back_to_training(apps: Any, schema_editor: Any) -> None:
    """Reverse of `take_content_types_from_training`."""
    for model in MODELS_FROM_TRAINING:
        move_content_type(apps, old=("plant", model), new=("training", model))


# Plant's part of the "Quality lead" group (as of migration 0003).
QUALITY_LEAD_GRANT = grant("plant", ["delete_dataset", "view_dataset"])
