"""Backdrop gateway: the public API, task records, SSE, forwarding to auth and upload."""
