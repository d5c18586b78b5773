"""What the registry keeps: a version that ever predicted is archived, never deleted; one that
never did may be deleted with its artifact."""

from django.core.files.storage import default_storage
from django.db.models import ProtectedError
from django.utils import timezone

from crossline.exceptions import Conflict
from mlmodels.models import ActiveModel, ModelVersion, VersionReference
from mlmodels.references import release_unused_reference
from mlmodels.selectors import was_ever_active


def archive_model_version(*, version: ModelVersion) -> bool:
    """Archive a version: kept with its history, left out of the default lists, never set as
    active until unarchived. The active version cannot be archived (Conflict). False if it
    was archived already."""
    refusal = Conflict(
        f"{version.model_name} is the active {version.type_model} model: set another version "
        "as active before archiving it."
    )
    if ActiveModel.objects.filter(version=version).exists():
        raise refusal
    now = timezone.now()
    archived = ModelVersion.objects.filter(pk=version.pk, archived_at=None).update(archived_at=now)
    # Looked at again after the write: an activation racing this one either moved the pointer
    # before (seen here: undone) or clears the flag after its move (mlmodels.services).
    if archived and ActiveModel.objects.filter(version=version).exists():
        ModelVersion.objects.filter(pk=version.pk, archived_at=now).update(archived_at=None)
        raise refusal
    if archived:
        version.archived_at = now
    return archived == 1


def unarchive_model_version(*, version: ModelVersion) -> bool:
    """Bring an archived version back to the lists (and to activation); False if it was not
    archived."""
    restored = ModelVersion.objects.filter(pk=version.pk, archived_at__isnull=False).update(
        archived_at=None
    )
    version.archived_at = None
    return restored == 1


def delete_model_version(*, version: ModelVersion) -> None:
    """Delete a version that never predicted, and its artifact.

    A version the activation history or the active pointer names is part of the audit trail:
    Conflict, archive it instead. The history's foreign keys PROTECT it as well, which also
    holds when an activation comes between the check and the delete (on MongoDB, Django's
    deletion collector enforces PROTECT in Python).
    """
    if was_ever_active(version):
        raise Conflict(
            f"{version.model_name} was set as active at some time: the registry keeps every "
            "version that predicted, with its activation history. Archive it instead."
        )
    path = version.artifact_path
    reference_id = (
        VersionReference.objects.filter(version=version).values_list("reference_id", flat=True)
    ).first()
    try:
        version.delete()
    except ProtectedError:
        raise Conflict(
            f"{version.model_name} was just set as active; it was not deleted."
        ) from None
    default_storage.delete(path)
    # The drift reference goes with the last version that links to it.
    release_unused_reference(reference_id)
