"""The Celery application. Settings come from Django's settings under the ``CELERY_`` prefix.

The apps never import this module: they reach the application as ``celery.current_app`` (and
declare tasks with ``shared_task``), which is this one in every thread of any process that loaded
the project's settings (``config/__init__.py`` imports it).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("eventscope")
# The current app of every thread, not only of the one that imported this module (Celery keeps the
# current app per thread; the default is what the others see).
app.set_default()
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tasks"], related_name=None)
