"""Celery: the app, item tasks, page callbacks, dispatch, webhook delivery and the sweeper."""
