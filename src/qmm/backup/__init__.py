"""Backup and restore of the embedded default: the SQLite database, events and evidence files."""

from qmm.backup.service import (
    BackupResult,
    EvidenceDoesNotVerify,
    RestoreResult,
    StoreDoesNotVerify,
    TrailDoesNotVerify,
    UnsupportedBackend,
    create_backup,
    restore_backup,
)

__all__ = [
    "BackupResult",
    "EvidenceDoesNotVerify",
    "RestoreResult",
    "StoreDoesNotVerify",
    "TrailDoesNotVerify",
    "UnsupportedBackend",
    "create_backup",
    "restore_backup",
]
