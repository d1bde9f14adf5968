"""The MCP server for AI assistants (`dgx-music mcp`)."""
