"""The thin Qt adapter layer (PySide6 + qasync): windows, tray, and no business rules."""
