"""Business rules, called by the API and by the tasks alike; no Flask or Celery in here."""
