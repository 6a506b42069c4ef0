"""The Wikimedia EventStreams preset (placeholder: maps like plain text)."""

from __future__ import annotations

from tidings.core.presets import Preset, register

__all__ = ["EventstreamsPreset"]


class EventstreamsPreset(Preset):
    name = "eventstreams"
    label = "Wikimedia EventStreams"
    stable_ids = True


register(EventstreamsPreset())
