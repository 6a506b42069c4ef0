"""Notifier implementations that need no Qt."""
