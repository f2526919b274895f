"""Webhook events: an outbox written with each job status change, delivered by a task."""
