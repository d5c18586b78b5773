"""crossline's errors: one base class, named subclasses mapped once to HTTP statuses."""


class CrosslineError(Exception):
    """Base of every error crossline raises on purpose; `status_code` is its HTTP answer.

    `code` is the machine-readable code of the REST error (default: the class name in
    snake_case); `field` names the field or query parameter at fault, if one is.
    """

    status_code = 400
    code = ""

    def __init__(self, *args: object, field: str = "") -> None:
        super().__init__(*args)
        self.field = field


class InvalidInput(CrosslineError):
    """A request's value is malformed (e.g. a KNR not of the form YYYY-NNNNNNN)."""


class InvalidUpload(CrosslineError):
    """An uploaded export is refused as a whole (format, columns, size, encoding, duplicate)."""


class UploadTooLarge(InvalidUpload):
    """An upload over CROSSLINE_MAX_UPLOAD_BYTES: refused before anything is stored."""

    status_code = 413


class DuplicateUpload(InvalidUpload):
    """The same export was imported before: importing it again would count it twice."""

    status_code = 409


class NothingToTrain(CrosslineError):
    """A training run lacks its data: test results, defects, or a kind with enough labels."""

    status_code = 409


class InvalidPipeline(CrosslineError):
    """A pipeline definition names an unknown step, misses an input or has a cycle."""


class Forbidden(CrosslineError):
    """The user may not do this: it needs a permission the user does not hold."""

    status_code = 403
    code = "permission_denied"


class NotFound(CrosslineError):
    """The object asked for (a KNR's data, a model version) does not exist."""

    status_code = 404


class NoActiveModel(CrosslineError):
    """No active model version exists for the kind a prediction needs."""

    status_code = 409


class Conflict(CrosslineError):
    """The request contradicts the current state (e.g. deleting the active version)."""

    status_code = 409


class ArtifactTampered(CrosslineError):
    """A stored model artifact's SHA-256 differs from the registry's: it is never loaded."""

    status_code = 409


class IneligibleVersion(CrosslineError):
    """A version below the activation gate was to be activated without an override and reason."""

    status_code = 409


class AlreadyActive(CrosslineError):
    """The version to activate is already the active version of its kind: nothing changed."""

    status_code = 409


class DuplicateRun(CrosslineError):
    """An identical training run (pipeline, parameters, data) is already queued or running."""

    status_code = 409
