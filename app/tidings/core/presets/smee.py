"""The smee.io (GitHub webhooks) preset (placeholder: maps like plain text)."""

from __future__ import annotations

from tidings.core.presets import Preset, register

__all__ = ["SmeePreset"]


class SmeePreset(Preset):
    name = "smee"
    label = "smee.io (GitHub webhooks)"
    replays = False


register(SmeePreset())
