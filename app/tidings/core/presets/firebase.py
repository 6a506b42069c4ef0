"""The Firebase Realtime Database preset (placeholder: maps like plain text)."""

from __future__ import annotations

from tidings.core.presets import Preset, register

__all__ = ["FirebasePreset"]


class FirebasePreset(Preset):
    name = "firebase"
    label = "Firebase Realtime Database"
    replays = False


register(FirebasePreset())
