"""The assistant's tools: Hearth's services called as the asking person (one file of reads, one
of writes). `TOOLS` maps a name to its Tool; the agent offers them all to the model."""

from hearth.assistant.tools.base import Tool, ToolContext, ToolResult
from hearth.assistant.tools.reading import READ_TOOLS
from hearth.assistant.tools.writing import WRITE_TOOLS

TOOLS: dict[str, Tool] = {t.name: t for t in (*READ_TOOLS, *WRITE_TOOLS)}

__all__ = ["TOOLS", "Tool", "ToolContext", "ToolResult"]
