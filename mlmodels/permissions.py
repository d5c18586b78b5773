"""Who may change the registry: Django permissions, held by the "Quality lead" group
(superusers hold every one). The admin and the API ask the same questions here; management
commands run as the operator and ask none."""

from typing import Any

from crossline.exceptions import Forbidden

ACTIVATE = "mlmodels.activate_modelversion"
OVERRIDE_GATE = "mlmodels.override_gate"
ARCHIVE = "mlmodels.archive_modelversion"
DELETE = "mlmodels.delete_modelversion"
EDIT_THRESHOLDS = "mlmodels.change_thresholdpolicy"


def refuse_unless_may_activate(user: Any, version: Any, *, override: bool) -> None:
    """Forbidden unless `user` may set `version` as active; below the activation gate, with
    `override`, also unless they may override the gate."""
    if not user.has_perm(ACTIVATE):
        raise Forbidden(f"Setting a version as active needs the permission {ACTIVATE}.")
    if override and not version.eligible and not user.has_perm(OVERRIDE_GATE):
        raise Forbidden(
            f"{version.model_name} is below the activation gate: overriding the gate needs the "
            f"permission {OVERRIDE_GATE}."
        )
