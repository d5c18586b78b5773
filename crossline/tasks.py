"""Project-wide django-q2 tasks."""


def ping() -> str:
    """Answer "pong" from a worker: proves that the task queue reaches a worker and back."""
    return "pong"
