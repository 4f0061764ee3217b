"""Project configuration. Importing it loads the Celery app, so that ``shared_task`` binds to it and
``celery.current_app`` is it (see ``config/celery.py``)."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
