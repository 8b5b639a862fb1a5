"""Connectors: one per database, loaded lazily through the registry."""
