"""VectorMigrate's server: MCP tools (stdio and Streamable HTTP) and the Go README's JSON-RPC calls.

Needs the ``server`` extra (``pip install 'vectormigrate[server]'``: the official ``mcp`` SDK 2.x, which brings
starlette and uvicorn). Start it with ``vectormigrate serve`` (HTTP) or ``vectormigrate mcp`` (stdio).
"""
