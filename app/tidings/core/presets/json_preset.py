"""The Generic JSON preset (placeholder: maps like plain text)."""

from __future__ import annotations

from tidings.core.presets import Preset, register

__all__ = ["JsonPresetPreset"]


class JsonPresetPreset(Preset):
    name = "json"
    label = "Generic JSON"


register(JsonPresetPreset())
