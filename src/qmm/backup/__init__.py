"""Backup and restore of the embedded default: the SQLite app database and the event store."""

from qmm.backup.service import (
    BackupResult,
    RestoreResult,
    TrailDoesNotVerify,
    UnsupportedBackend,
    create_backup,
    restore_backup,
)

__all__ = [
    "BackupResult",
    "RestoreResult",
    "TrailDoesNotVerify",
    "UnsupportedBackend",
    "create_backup",
    "restore_backup",
]
