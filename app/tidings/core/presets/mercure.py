"""The Mercure hub preset (placeholder: maps like plain text)."""

from __future__ import annotations

from tidings.core.presets import Preset, register

__all__ = ["MercurePreset"]


class MercurePreset(Preset):
    name = "mercure"
    label = "Mercure hub"
    stable_ids = True


register(MercurePreset())
