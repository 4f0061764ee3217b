"""Log filters (``LOGGING`` in config/settings.py). Imported while logging is configured, before the
apps are loaded: nothing here may import models."""

from __future__ import annotations

import logging


class RefusalsAtInfo(logging.Filter):
    """Refusals of bad requests are logged at INFO, one line, without a traceback.

    Django logs every 4xx answer at WARNING (``django.request``) and every request it finds
    suspicious at ERROR with a traceback (``django.security.*``: a static path outside the static
    folder, a Host outside ``ALLOWED_HOSTS``, a body over the limit). Those are the server doing its
    job on a client's bad input; at those levels they bury the errors that need someone. A 503 is an
    answer on purpose too (overload, a dependency down, ``/healthz``), and the part that decided it
    logs why. Other 5xx (a failure while serving) keep their level and traceback.

    Set on the handler, since a filter on a logger does not see its children's records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        refusal = record.name.startswith("django.security.") or (
            record.name == "django.request" and isinstance(status, int) and (status < 500 or status == 503)
        )
        if not refusal or record.levelno <= logging.INFO:
            return True
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.exc_info, record.exc_text = None, None
        # The loggers let the record through at its first level; at INFO it may be below the level
        # set for its logger or for the whole log (EVENTSCOPE_LOG_LEVEL, on the root logger).
        return logging.getLogger(record.name).isEnabledFor(logging.INFO) and logging.getLogger().isEnabledFor(
            logging.INFO
        )


# Celery's loggers that say INFO for what happens every few seconds whatever else does: a task run
# ("Task … succeeded"), a task received, a beat entry sent.
CELERY_ROUTINE = ("celery.app.trace", "celery.worker.strategy", "celery.beat")


class CeleryRoutineAtDebug(logging.Filter):
    """Celery's routine INFO lines (``CELERY_ROUTINE``) are DEBUG: shown, and labelled so, only
    with ``EVENTSCOPE_LOG_LEVEL=DEBUG``. A task that fails is logged at ERROR and stays there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.name.startswith(CELERY_ROUTINE):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def quiet_celery_routine(logger: logging.Logger, **kwargs: object) -> None:
    """A Celery worker or beat process replaces the root logger's handlers with its own (and its
    ``--loglevel``): those get :class:`CeleryRoutineAtDebug` too (``after_setup_logger``)."""
    for handler in logger.handlers:
        if not any(isinstance(existing, CeleryRoutineAtDebug) for existing in handler.filters):
            handler.addFilter(CeleryRoutineAtDebug())
