"""The Qt-free core of Tidings: SSE decoding, connections, and the rules around them.

Nothing in this package imports Qt, qasync or desktop-notifier (ruff's banned-api
rule and tests/test_imports.py enforce it).
"""
