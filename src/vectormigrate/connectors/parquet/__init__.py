"""Parquet connector: a folder of Parquet files with a manifest (export, backup, import). See ``NOTES.md``."""

from vectormigrate.connectors.parquet.connector import ParquetConnector

__all__ = ["ParquetConnector"]
