"""Keyed checkpoints of the audit trail: a seal that a database writer without the key cannot forge.

The chain's SHA-256 hashes show that entries follow each other, but anyone who can write to the
database can recompute them with the application's own functions. A checkpoint records the
trail's head (the newest entry's id and hash, which commits to every entry before it) and a
digest of every signature, sealed with HMAC-SHA256 under a key kept in a file outside the
database. Each checkpoint is stored in `audit_checkpoints` and appended to a sink file outside the
database; `qmm audit verify` checks the trail against every checkpoint of both (qmm.audit.verify).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from qmm.audit.trail import CHAIN_LOCK_KEY, GENESIS_HASH, canonical_json, canonical_value
from qmm.config import get_settings
from qmm.errors import Conflict, QMMError
from qmm.models import AuditCheckpoint, AuditEntry, Signature, utcnow

FORMAT: Final = "qmm-audit-checkpoint-1"
KEY_BYTES: Final = 32
#: Hex digits kept of each sealed entry's hash: enough to name the first entry that differs.
PREFIX: Final = 16
#: How old the newest checkpoint may grow before the server writes another.
DAILY: Final = timedelta(hours=24)
#: A rotated-out key is kept beside the key file as `<key file name>.retired-<key id>`.
RETIRED: Final = ".retired-"


class CheckpointKeyError(QMMError):
    """The key that seals checkpoints is missing, unreadable, malformed or open to others."""

    status_code = 500


@dataclass(frozen=True)
class CheckpointPlaces:
    """Where the sealing key and the sink file live (both outside the database)."""

    key_file: Path
    sink: Path

    @classmethod
    def from_settings(cls) -> CheckpointPlaces:
        settings = get_settings()
        return cls(key_file=settings.checkpoint_key_path, sink=settings.checkpoint_sink_path)


@dataclass(frozen=True)
class CheckpointKey:
    """A secret that seals checkpoints, named by a fingerprint that reveals nothing of it."""

    key_id: str
    secret: bytes = field(repr=False)
    path: Path

    def seal(self, content: dict[str, Any]) -> str:
        return hmac.new(self.secret, canonical_json(content).encode("utf-8"), "sha256").hexdigest()

    def holds(self, content: dict[str, Any], seal: str) -> bool:
        return hmac.compare_digest(self.seal(content), seal)


def key_id_of(secret: bytes) -> str:
    """The public name of a key: a truncated hash, so checkpoints say which key sealed them."""
    return hashlib.sha256(b"qmm-audit-checkpoint-key:" + secret).hexdigest()[:16]


def read_key(path: Path) -> CheckpointKey:
    """The key in a file, refused with what to do when missing, unreadable or open to others."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CheckpointKeyError(
            f"the audit checkpoint key file {path} is missing. Put it back from where you keep "
            "its copy (docs/trust.md), or point QMM_CHECKPOINT_KEY_FILE at it"
        ) from None
    except OSError as exc:
        raise CheckpointKeyError(
            f"the audit checkpoint key file {path} cannot be read: {exc}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointKeyError(f"the audit checkpoint key file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise CheckpointKeyError(
            f"the audit checkpoint key file {path} is open to other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); anyone who reads it can forge checkpoints. "
            f"Make it readable by its owner only: chmod 600 {path}"
        )
    try:
        content = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointKeyError(
            f"the audit checkpoint key file {path} cannot be read: {exc}"
        ) from None
    try:
        secret = bytes.fromhex(content)
    except ValueError:
        secret = b""
    if len(secret) != KEY_BYTES:
        raise CheckpointKeyError(
            f"the audit checkpoint key file {path} does not hold a key ({KEY_BYTES * 2} hex "
            "digits): it was damaged or replaced"
        )
    return CheckpointKey(key_id=key_id_of(secret), secret=secret, path=path)


def create_key(path: Path) -> CheckpointKey:
    """A new random key in a new file readable by its owner only; an existing file is kept."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(KEY_BYTES)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key(path)
    except OSError as exc:
        raise CheckpointKeyError(
            f"the audit checkpoint key file {path} cannot be created: {exc}"
        ) from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secret.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return read_key(path)


def retired_key_files(key_file: Path) -> list[Path]:
    """The keys rotated out, kept beside the key file to check the checkpoints they sealed."""
    if not key_file.parent.is_dir():
        return []
    return sorted(key_file.parent.glob(f"{key_file.name}{RETIRED}*"))


@dataclass
class KeyRing:
    """Every key that may have sealed a checkpoint here, and why any could not be read."""

    keys: dict[str, CheckpointKey] = field(default_factory=dict)
    problems: dict[Path, str] = field(default_factory=dict)


def key_ring(key_file: Path) -> KeyRing:
    """The current key and the retired ones, each read; unreadable ones are noted, not raised."""
    ring = KeyRing()
    for path in [key_file, *retired_key_files(key_file)]:
        try:
            key = read_key(path)
        except CheckpointKeyError as exc:
            ring.problems[path] = str(exc)
            continue
        ring.keys[key.key_id] = key
    return ring


# The sink: one JSON line per checkpoint, appended, never rewritten -------------------------------


def append_to_sink(path: Path, line: dict[str, Any]) -> None:
    """Append one checkpoint to the sink file, whole, under a lock, and flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = (json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise CheckpointKeyError(
            f"the audit checkpoint sink {path} cannot be opened: {exc}"
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class SinkLine:
    """One line of the sink file: its number (from 1) and the checkpoint it records.

    A checkpoint kept in the sink only (a backup's) carries its entry hashes too.
    """

    number: int
    content: dict[str, Any]
    seal: str
    hashes: str | None = None


def read_sink(path: Path) -> tuple[list[SinkLine], list[str]]:
    """The sink's checkpoints, and a problem for each line that is not one."""
    if not path.exists():
        return [], []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], [f"the checkpoint sink {path} cannot be read: {exc}"]
    lines: list[SinkLine] = []
    problems: list[str] = []
    for number, text_line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        if not text_line.strip():
            continue
        try:
            data = json.loads(text_line)
            seal = data.pop("seal")
            hashes = data.pop("sealed_hashes", None)
            if data.get("format") != FORMAT or not isinstance(hashes, str | None):
                raise ValueError("not a checkpoint")
        except (ValueError, KeyError, AttributeError, TypeError):
            problems.append(
                f"line {number} of the checkpoint sink {path} is not a checkpoint "
                "(the sink was edited or damaged)"
            )
            continue
        lines.append(SinkLine(number=number, content=data, seal=str(seal), hashes=hashes))
    return lines, problems


# What a checkpoint seals -----------------------------------------------------------------------


def sealed_content(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """Everything a checkpoint's seal covers; the sink line is this and the seal."""
    return {
        "format": FORMAT,
        "id": checkpoint.id,
        "created_at": canonical_value("", "", checkpoint.created_at),
        "reason": checkpoint.reason,
        "entry_id": checkpoint.entry_id,
        "entry_hash": checkpoint.entry_hash,
        "sealed_from": checkpoint.sealed_from,
        "sealed_hashes_sha256": hashlib.sha256(checkpoint.sealed_hashes.encode()).hexdigest(),
        "signatures_upto": checkpoint.signatures_upto,
        "signatures_count": checkpoint.signatures_count,
        "signatures_digest": checkpoint.signatures_digest,
        "sink_lines_before": checkpoint.sink_lines_before,
        "key_id": checkpoint.key_id,
    }


def signature_row(signature: Any) -> list[Any]:
    """A signature's content as a checkpoint digests it."""
    return [
        signature.id,
        signature.user_id,
        signature.printed_name,
        signature.meaning,
        signature.record_type,
        signature.record_id,
        signature.record_hash,
        canonical_value("", "", signature.signed_at),
    ]


def _signature_rows(session: Session) -> Sequence[Any]:
    return session.execute(
        select(
            Signature.id,
            Signature.user_id,
            Signature.printed_name,
            Signature.meaning,
            Signature.record_type,
            Signature.record_id,
            Signature.record_hash,
            Signature.signed_at,
        ).order_by(Signature.id)
    ).all()


def signature_digests(session: Session, boundaries: Iterable[int]) -> dict[int, tuple[int, str]]:
    """For each boundary id: how many signatures have an id up to it, and their digest.

    One pass over the signatures, however many checkpoints ask.
    """
    wanted = sorted(set(boundaries))
    found: dict[int, tuple[int, str]] = {}
    digest = hashlib.sha256()
    count = 0
    rows = iter(_signature_rows(session))
    pending = next(rows, None)
    for boundary in wanted:
        while pending is not None and pending.id <= boundary:
            digest.update(canonical_json(signature_row(pending)).encode("utf-8") + b"\n")
            count += 1
            pending = next(rows, None)
        found[boundary] = (count, digest.hexdigest())
    return found


# Writing a checkpoint --------------------------------------------------------------------------


def checkpoints_exist(session: Session, places: CheckpointPlaces) -> bool:
    """Whether any checkpoint was ever written here: in the database or in the sink."""
    if session.scalar(select(func.count()).select_from(AuditCheckpoint)):
        return True
    try:
        return places.sink.stat().st_size > 0
    except FileNotFoundError:
        return False


def sealing_key(session: Session, places: CheckpointPlaces) -> CheckpointKey:
    """The current key; made on first use only, never while checkpoints sealed by another exist."""
    if places.key_file.exists() or places.key_file.is_symlink():
        return read_key(places.key_file)
    if checkpoints_exist(session, places):
        raise CheckpointKeyError(
            f"the audit checkpoint key file {places.key_file} is missing, but checkpoints were "
            "sealed with it: put the key file back from where you keep its copy (or point "
            "QMM_CHECKPOINT_KEY_FILE at it). A new key is made only before the first checkpoint "
            "or by `qmm audit rotate-key`"
        )
    return create_key(places.key_file)


def _lock_chain(session: Session) -> None:
    """Hold the chain's lock on PostgreSQL so checkpoint ids are taken one at a time."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def write_checkpoint(
    session: Session,
    *,
    reason: str,
    places: CheckpointPlaces | None = None,
    head: tuple[int, str] | None = None,
    sink_lines_before: int | None = None,
    key: CheckpointKey | None = None,
    now: datetime | None = None,
    in_database: bool = True,
) -> AuditCheckpoint:
    """Seal the trail's head (or the verified HEAD given) and every signature, in both places.

    On SQLite the session should have begun as a writer (qmm.db.begin_writing). Without
    IN_DATABASE the checkpoint goes to the sink only, with its entry hashes and no id, and the
    database is only read: for a backup, whose copy must be the database exactly as it was.
    """
    places = places or CheckpointPlaces.from_settings()
    key = key or sealing_key(session, places)
    if in_database:
        _lock_chain(session)
    newest = session.execute(
        select(AuditEntry.id, AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    if head is None:
        head = (int(newest[0]), str(newest[1])) if newest else (0, GENESIS_HASH)
    entry_id, entry_hash = head
    if entry_id:
        stored = session.get(AuditEntry, entry_id)
        if stored is None or stored.entry_hash != entry_hash:
            raise Conflict(
                f"audit entry #{entry_id} is not the one verified a moment ago; run "
                "`qmm audit verify` again"
            )
    previous = session.scalar(select(func.max(AuditCheckpoint.entry_id))) or 0
    sealed_from = min(previous, entry_id) + 1
    hashes = session.scalars(
        select(AuditEntry.entry_hash)
        .where(AuditEntry.id >= sealed_from, AuditEntry.id <= entry_id)
        .order_by(AuditEntry.id)
    ).all()
    if len(hashes) != entry_id - sealed_from + 1:
        raise Conflict(
            f"audit entries #{sealed_from} to #{entry_id} are not all there: run "
            "`qmm audit verify` to see what is missing"
        )
    upto = session.scalar(select(func.max(Signature.id))) or 0
    count, digest = signature_digests(session, [upto])[upto]
    next_id = (session.scalar(select(func.max(AuditCheckpoint.id))) or 0) + 1
    checkpoint = AuditCheckpoint(
        id=next_id if in_database else None,
        created_at=now or utcnow(),
        reason=reason[:200],
        entry_id=entry_id,
        entry_hash=entry_hash,
        sealed_from=sealed_from,
        sealed_hashes="".join(h[:PREFIX] for h in hashes),
        signatures_upto=upto,
        signatures_count=count,
        signatures_digest=digest,
        sink_lines_before=sink_lines_before,
        key_id=key.key_id,
    )
    content = sealed_content(checkpoint)
    checkpoint.seal = key.seal(content)
    if not in_database:
        line = {**content, "seal": checkpoint.seal, "sealed_hashes": checkpoint.sealed_hashes}
        append_to_sink(places.sink, line)
        return checkpoint
    session.add(checkpoint)
    session.flush()
    # Written before the transaction commits, so every committed checkpoint is in the sink; a
    # line whose transaction then rolls back is reported by verify as in the sink only.
    append_to_sink(places.sink, {**content, "seal": checkpoint.seal})
    return checkpoint


def newest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """The most recent checkpoint in the database."""
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).first()


def sink_line_count(places: CheckpointPlaces) -> int:
    """How many checkpoints the sink holds now (a restore marks those before it as replaced)."""
    lines, _ = read_sink(places.sink)
    return max((line.number for line in lines), default=0)


def rotate_key(places: CheckpointPlaces) -> tuple[CheckpointKey, Path]:
    """Retire the current key beside the key file and make a new one; both stay readable."""
    old = read_key(places.key_file)
    retired = places.key_file.with_name(f"{places.key_file.name}{RETIRED}{old.key_id}")
    if retired.exists():
        raise Conflict(f"{retired} exists already: the key {old.key_id} was retired before")
    os.rename(places.key_file, retired)
    return create_key(places.key_file), retired
