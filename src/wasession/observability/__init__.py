"""Metrics and logging for operations."""
