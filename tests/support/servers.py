"""Run an ASGI app on a real uvicorn server on loopback, in a background thread."""

from integrations.local_server import serve_asgi

__all__ = ["serve_asgi"]
