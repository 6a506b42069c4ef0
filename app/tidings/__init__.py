"""Tidings: a desktop client for Server-Sent Events."""

__version__ = "0.1.0"
