"""The ntfy preset (placeholder: maps like plain text)."""

from __future__ import annotations

from tidings.core.presets import Preset, register

__all__ = ["NtfyPreset"]


class NtfyPreset(Preset):
    name = "ntfy"
    label = "ntfy"
    stable_ids = True


register(NtfyPreset())
