"""Durable migration state (SQLite, WAL)."""
