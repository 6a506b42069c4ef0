"""The MCP server preset (placeholder: maps like plain text)."""

from __future__ import annotations

from tidings.core.presets import Preset, register

__all__ = ["McpPreset"]


class McpPreset(Preset):
    name = "mcp"
    label = "MCP server"


register(McpPreset())
