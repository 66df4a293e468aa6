"""Check the audit trail: an intact chain, records that match their last entry, and checkpoints.

The chain's own hashes can be recomputed by anyone who can write to the database; the keyed
checkpoints (qmm.audit.checkpoints) are what such a writer cannot forge, so the chain is also
checked against every checkpoint in the database and in the sink file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from qmm.audit.checkpoints import (
    DAILY,
    PREFIX,
    CheckpointPlaces,
    KeyRing,
    key_ring,
    newest_checkpoint,
    read_sink,
    rotate_key,
    sealed_content,
    signature_digests,
    signature_row,
    sink_line_count,
    write_checkpoint,
)
from qmm.audit.trail import (
    GENESIS_HASH,
    audited_columns,
    audited_tables,
    canonical_value,
    stored_entry_hash,
)
from qmm.db import begin_writing, unit_of_work
from qmm.errors import Conflict
from qmm.models import AuditCheckpoint, AuditEntry, Signature, utcnow

#: Tables whose rows the application only ever adds: an entry changing one is a forgery.
APPEND_ONLY: Final = frozenset({"signatures", "login_attempts"})
#: How many items of one kind a report names before it counts the rest.
SHOWN: Final = 5


@dataclass
class VerificationReport:
    """What `qmm audit verify` found; empty problems means the trail and the records agree."""

    entries: int = 0
    records: int = 0
    head_id: int = 0
    head_hash: str = GENESIS_HASH
    checkpoints: int = 0
    newest_checkpoint: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "records": self.records,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
            "checkpoints": self.checkpoints,
            "newest_checkpoint": self.newest_checkpoint,
            "problems": self.problems,
            "notes": self.notes,
        }


def _check_chain(entries: list[AuditEntry], report: VerificationReport) -> None:
    expected_id = 1
    prev_hash = GENESIS_HASH
    for entry in entries:
        if entry.id != expected_id:
            if entry.id > expected_id:
                missing = (
                    f"#{expected_id}"
                    if entry.id == expected_id + 1
                    else f"#{expected_id} to #{entry.id - 1}"
                )
                report.problems.append(f"audit entries {missing} are missing (deleted)")
            else:
                report.problems.append(f"audit entry #{entry.id} is out of sequence")
            expected_id = entry.id
        if entry.prev_hash != prev_hash:
            report.problems.append(
                f"audit entry #{entry.id} does not follow the entry before it "
                "(an entry was inserted, deleted or reordered)"
            )
        if stored_entry_hash(entry) != entry.entry_hash:
            report.problems.append(
                f"audit entry #{entry.id} ({entry.action} {entry.table_name} "
                f"#{entry.record_id}) was altered after it was written"
            )
        prev_hash = entry.entry_hash
        expected_id += 1
    report.head_hash = prev_hash
    report.head_id = entries[-1].id if entries else 0


def _check_append_only(entries: list[AuditEntry], report: VerificationReport) -> None:
    """Signatures and sign-in attempts are only ever added: a change to one is a forgery."""
    for entry in entries:
        if entry.table_name in APPEND_ONLY and entry.action != "create":
            report.problems.append(
                f"audit entry #{entry.id} records a{'n' if entry.action == 'update' else ''} "
                f"{entry.action} of {entry.table_name} #{entry.record_id}, which the application "
                "never changes or deletes: it was written behind the application's back"
            )


def _replay(entries: list[AuditEntry]) -> dict[tuple[str, str], tuple[dict[str, Any], int]]:
    """The state every record should have now, and the id of its last entry."""
    state: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
    for entry in entries:
        key = (entry.table_name, entry.record_id)
        if entry.action == "create":
            state[key] = (dict(entry.new_values or {}), entry.id)
        elif entry.action == "update":
            values = dict(state.get(key, ({}, 0))[0])
            values.update(entry.new_values or {})
            state[key] = (values, entry.id)
        elif entry.action == "delete":
            state.pop(key, None)
    return state


def _check_records(session: Session, entries: list[AuditEntry], report: VerificationReport) -> None:
    expected = _replay(entries)
    seen: set[tuple[str, str]] = set()
    for table in audited_tables():
        columns = audited_columns(table)
        pk = [c.name for c in table.primary_key.columns]
        for row in session.execute(select(table)).mappings():
            record_id = "/".join(str(row[c]) for c in pk)
            key = (table.name, record_id)
            seen.add(key)
            report.records += 1
            if key not in expected:
                report.problems.append(
                    f"{table.name} #{record_id} has no audit entry "
                    "(created behind the application's back)"
                )
                continue
            values, last_id = expected[key]
            for column in columns:
                actual = canonical_value(table.name, column, row[column])
                if column in values and values[column] != actual:
                    report.problems.append(
                        f"{table.name} #{record_id}: {column} is {actual!r} in the database but "
                        f"{values[column]!r} in its last audit entry (#{last_id}): changed "
                        "behind the application's back"
                    )
    for table_name, record_id in sorted(set(expected) - seen):
        report.problems.append(
            f"{table_name} #{record_id} is in the audit trail but not in the database "
            "(deleted behind the application's back)"
        )


@dataclass(frozen=True)
class _Sealed:
    """A checkpoint whose seal holds, as found in the database, the sink, or both."""

    content: dict[str, Any]
    seal: str
    hashes: str | None
    in_table: bool
    sink_line: int | None = None

    @property
    def id(self) -> int:
        """The checkpoint's number in the database; 0 for one kept in the sink only."""
        return int(self.content.get("id") or 0)

    @property
    def sink_only(self) -> bool:
        """Written to the sink alone by design (a backup's), so never in the database."""
        return self.content.get("id") is None

    @property
    def entry_id(self) -> int:
        return int(self.content["entry_id"])

    def named(self) -> str:
        when = datetime.fromisoformat(str(self.content["created_at"]))
        if self.sink_only:
            return f"the checkpoint of {when:%Y-%m-%d %H:%M} UTC ({self.content['reason']})"
        return f"checkpoint #{self.id} of {when:%Y-%m-%d %H:%M} UTC"


class _Seals:
    """Checks each checkpoint's seal against the key ring, counting keys that are missing."""

    def __init__(self, ring: KeyRing, report: VerificationReport) -> None:
        self.ring = ring
        self.report = report
        self.unavailable: dict[str, int] = {}

    def hold(self, content: dict[str, Any], seal: str, where: str) -> bool:
        key_id = str(content.get("key_id"))
        key = self.ring.keys.get(key_id)
        if key is None:
            self.unavailable[key_id] = self.unavailable.get(key_id, 0) + 1
            return False
        if not key.holds(content, seal):
            self.report.problems.append(
                f"{where}: its seal does not verify with key {key_id}, so it was forged or "
                "altered (only the key's holder can seal a checkpoint)"
            )
            return False
        return True

    def report_unavailable(self, places: CheckpointPlaces) -> None:
        why = "; ".join(self.ring.problems.values()) or f"no key file {places.key_file}"
        for key_id, count in sorted(self.unavailable.items()):
            self.report.problems.append(
                f"{count} checkpoint(s) were sealed with key {key_id}, which is not available "
                f"({why}): their seals cannot be checked. Put the key file back, or a retired "
                f"key beside it as {places.key_file.name}.retired-{key_id}"
            )


def _first_rewritten_entry(sealed: list[_Sealed], by_id: dict[int, AuditEntry]) -> int | None:
    """The first entry whose hash differs from the one a checkpoint recorded for it."""
    for checkpoint in sorted(sealed, key=lambda c: int(c.content["sealed_from"])):
        if checkpoint.hashes is None:
            continue
        start = int(checkpoint.content["sealed_from"])
        for offset in range(0, len(checkpoint.hashes), PREFIX):
            entry_id = start + offset // PREFIX
            entry = by_id.get(entry_id)
            if (
                entry is None
                or entry.entry_hash[:PREFIX] != checkpoint.hashes[offset : offset + PREFIX]
            ):
                return entry_id
    return None


def _signature_differences(session: Session, entries: list[AuditEntry], upto: int) -> list[str]:
    """Signatures deleted or changed since the trail recorded their creation."""
    created = {
        int(e.record_id): e.new_values or {}
        for e in entries
        if e.table_name == "signatures"
        and e.action == "create"
        and e.record_id.isdigit()
        and int(e.record_id) <= upto
    }
    rows = {s.id: s for s in session.scalars(select(Signature).where(Signature.id <= upto))}
    found = []
    for signature_id, values in sorted(created.items()):
        row = rows.get(signature_id)
        described = (
            f"signature #{signature_id} ({values.get('meaning')} by {values.get('printed_name')} "
            f"of {values.get('record_type')} #{values.get('record_id')})"
        )
        if row is None:
            found.append(f"{described} was deleted")
            continue
        now = signature_row(row)
        then = [signature_id, *(values.get(c) for c in _SIGNATURE_COLUMNS)]
        changed = [
            c for c, a, b in zip(_SIGNATURE_COLUMNS, now[1:], then[1:], strict=True) if a != b
        ]
        if changed:
            found.append(f"{described} was changed ({', '.join(changed)})")
    for signature_id in sorted(rows.keys() - created.keys()):
        found.append(f"signature #{signature_id} was inserted behind the application's back")
    return found


_SIGNATURE_COLUMNS: Final = (
    "user_id",
    "printed_name",
    "meaning",
    "record_type",
    "record_id",
    "record_hash",
    "signed_at",
)


def _check_checkpoints(
    session: Session,
    entries: list[AuditEntry],
    report: VerificationReport,
    places: CheckpointPlaces,
    *,
    after_restore: bool,
) -> None:
    rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).all()
    sink_lines, sink_problems = read_sink(places.sink)
    report.problems.extend(sink_problems)
    if not rows and not sink_lines:
        if entries:
            report.notes.append(
                "no checkpoint yet: nothing outside the database vouches for the chain until one "
                "is written"
            )
        return
    ring = key_ring(places.key_file)
    if not ring.keys and not places.key_file.exists() and not places.sink.exists():
        # A database restored on a machine without its checkpoint key and sink (a database
        # writer cannot remove files): say so, and let writing the next checkpoint refuse.
        report.notes.append(
            f"the database holds {len(rows)} checkpoint(s), but neither their key "
            f"({places.key_file}) nor the sink ({places.sink}) is on this machine, so they "
            "cannot be checked here and no new checkpoint can be written: copy both from "
            "the machine that wrote them (docs/trust.md)"
        )
        return
    seals = _Seals(ring, report)
    sealed: dict[str, _Sealed] = {}
    for row in rows:
        content = sealed_content(row)
        if not seals.hold(content, row.seal, f"checkpoint #{row.id} in the database"):
            continue
        expected = PREFIX * max(0, row.entry_id - row.sealed_from + 1)
        hashes = row.sealed_hashes if len(row.sealed_hashes) == expected else None
        sealed[row.seal] = _Sealed(content, row.seal, hashes, in_table=True)
    in_sink: set[str] = set()
    for line in sink_lines:
        where = f"the checkpoint on line {line.number} of {places.sink}"
        if not seals.hold(line.content, line.seal, where):
            continue
        in_sink.add(line.seal)
        if line.seal not in sealed:
            hashes = line.hashes
            if hashes is not None and hashlib.sha256(hashes.encode()).hexdigest() != (
                line.content.get("sealed_hashes_sha256")
            ):
                report.problems.append(f"{where}: its entry hashes were altered")
                hashes = None
            sealed[line.seal] = _Sealed(
                line.content, line.seal, hashes, in_table=False, sink_line=line.number
            )
    seals.report_unavailable(places)
    _check_sink_holds_the_table(sealed, in_sink, report, places)
    replaced_upto = max(
        (int(c.content.get("sink_lines_before") or 0) for c in sealed.values()), default=0
    )
    if after_restore:
        replaced_upto = max((line.number for line in sink_lines), default=0)

    def replaced(checkpoint: _Sealed) -> bool:
        return (
            not checkpoint.in_table
            and checkpoint.sink_line is not None
            and checkpoint.sink_line <= replaced_upto
        )

    candidates = [c for c in sealed.values() if replaced(c)]
    excused = _disagreeing(session, candidates, entries) if candidates else set()
    current = [c for c in sealed.values() if c.seal not in excused]
    if excused:
        report.notes.append(
            f"{len(excused)} checkpoint(s) in the sink were written before a restore replaced "
            "the database, and disagree with it as expected"
        )
    _check_heads(current, entries, report)
    _check_signatures(session, current, entries, report)
    only_in_sink = [c for c in current if not c.in_table and not c.sink_only]
    if only_in_sink:
        report.notes.append(
            f"{len(only_in_sink)} checkpoint(s) are in the sink only (their transaction did not "
            "commit, or their rows were deleted); the trail still matches what they sealed"
            if not report.problems
            else f"{len(only_in_sink)} checkpoint(s) are in the sink only"
        )
    report.checkpoints = len(current)
    if current:
        newest = max(current, key=lambda c: (str(c.content["created_at"]), c.id))
        report.newest_checkpoint = {
            "id": None if newest.sink_only else newest.id,
            "created_at": newest.content["created_at"],
            "reason": newest.content["reason"],
            "entry_id": newest.entry_id,
        }
        sealed_head = max(c.entry_id for c in current)
        if sealed_head < report.head_id:
            report.notes.append(
                f"entries #{sealed_head + 1} to #{report.head_id} are newer than every "
                "checkpoint: nothing outside the database vouches for them yet"
            )


def _check_sink_holds_the_table(
    sealed: dict[str, _Sealed],
    in_sink: set[str],
    report: VerificationReport,
    places: CheckpointPlaces,
) -> None:
    """Every checkpoint in the database was appended to the sink when it was written."""
    missing = sorted(
        (c for c in sealed.values() if c.in_table and c.seal not in in_sink), key=lambda c: c.id
    )
    if not missing:
        return
    if not places.sink.exists():
        report.problems.append(
            f"the checkpoint sink {places.sink} is missing, yet the database holds "
            f"{len(missing)} checkpoint(s): it was removed, or QMM_CHECKPOINT_SINK names "
            "another file"
        )
        return
    for checkpoint in missing[:SHOWN]:
        report.problems.append(
            f"{checkpoint.named()} is in the database but not in the sink {places.sink}: the "
            "sink was truncated or replaced"
        )
    if len(missing) > SHOWN:
        report.problems.append(f"... and {len(missing) - SHOWN} more checkpoint(s) not in the sink")


def _disagreeing(
    session: Session, checkpoints: list[_Sealed], entries: list[AuditEntry]
) -> set[str]:
    """The seals of the checkpoints whose head or signatures the database no longer holds."""
    by_id = {e.id: e for e in entries}
    digests = signature_digests(session, [int(c.content["signatures_upto"]) for c in checkpoints])
    found = set()
    for checkpoint in checkpoints:
        entry = by_id.get(checkpoint.entry_id)
        head_holds = not checkpoint.entry_id or (
            entry is not None and entry.entry_hash == checkpoint.content["entry_hash"]
        )
        count, digest = digests[int(checkpoint.content["signatures_upto"])]
        signatures_hold = (count, digest) == (
            int(checkpoint.content["signatures_count"]),
            checkpoint.content["signatures_digest"],
        )
        if not (head_holds and signatures_hold):
            found.add(checkpoint.seal)
    return found


def _check_heads(
    checkpoints: list[_Sealed], entries: list[AuditEntry], report: VerificationReport
) -> None:
    """Each checkpoint's head entry is still in the trail with the hash it was sealed with."""
    by_id = {e.id: e for e in entries}
    failing = []
    for checkpoint in sorted(checkpoints, key=lambda c: (c.entry_id, c.id)):
        head = checkpoint.entry_id
        entry = by_id.get(head)
        if head and (entry is None or entry.entry_hash != checkpoint.content["entry_hash"]):
            failing.append(checkpoint)
    if not failing:
        return
    first = failing[0]
    rewritten = _first_rewritten_entry(checkpoints, by_id)
    if by_id.get(first.entry_id) is None:
        report.problems.append(
            f"{first.named()} sealed audit entry #{first.entry_id}, but the trail now ends at "
            f"#{report.head_id}: entries were removed (after restoring an older backup, run "
            "`qmm audit verify --after-restore`)"
        )
    elif rewritten is not None:
        report.problems.append(
            f"audit entry #{rewritten} is not the entry that the checkpoints sealed (first "
            f"disagreeing: {first.named()}, sealing #{first.entry_id}): the trail was rewritten "
            f"from entry #{rewritten} on and re-sealed without the checkpoint key"
        )
    else:
        report.problems.append(
            f"audit entry #{first.entry_id} no longer has the hash {first.named()} sealed "
            f"({str(first.content['entry_hash'])[:16]}...): the trail was rewritten at or "
            "before it and re-sealed without the checkpoint key"
        )
    if len(failing) > 1:
        report.problems.append(
            f"{len(failing) - 1} later checkpoint(s) disagree with the trail as well"
        )


def _check_signatures(
    session: Session,
    checkpoints: list[_Sealed],
    entries: list[AuditEntry],
    report: VerificationReport,
) -> None:
    """The signatures each checkpoint sealed are all still there, unchanged."""
    if not checkpoints:
        return
    digests = signature_digests(session, [int(c.content["signatures_upto"]) for c in checkpoints])
    for checkpoint in sorted(checkpoints, key=lambda c: (int(c.content["signatures_upto"]), c.id)):
        upto = int(checkpoint.content["signatures_upto"])
        count, digest = digests[upto]
        then = int(checkpoint.content["signatures_count"])
        if (count, digest) == (then, checkpoint.content["signatures_digest"]):
            continue
        report.problems.append(
            f"the signatures up to #{upto} are not those {checkpoint.named()} sealed ({then} "
            f"then, {count} now): a signature was deleted, changed or inserted behind the "
            "application's back"
        )
        differences = _signature_differences(session, entries, upto)
        report.problems.extend(f"- {d}" for d in differences[:SHOWN])
        if len(differences) > SHOWN:
            report.problems.append(f"- ... and {len(differences) - SHOWN} more")
        return


def verify(
    session: Session,
    *,
    places: CheckpointPlaces | None = None,
    after_restore: bool = False,
) -> VerificationReport:
    """Verify the chain, every audited record against it, and the chain against its checkpoints.

    AFTER_RESTORE accepts that checkpoints in the sink but not in the database belong to the
    history a restore replaced.
    """
    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    report = VerificationReport(entries=len(entries))
    _check_chain(entries, report)
    _check_append_only(entries, report)
    _check_records(session, entries, report)
    _check_checkpoints(
        session,
        entries,
        report,
        places or CheckpointPlaces.from_settings(),
        after_restore=after_restore,
    )
    return report


def seal_verified_head(
    session: Session,
    report: VerificationReport,
    *,
    reason: str,
    places: CheckpointPlaces | None = None,
    after_restore: bool = False,
    in_database: bool = True,
) -> AuditCheckpoint:
    """Write a checkpoint of the head a verification found intact (never of a damaged trail).

    After a restore it also records how many sink lines came before it: those of the replaced
    history are not checked against this database again. Without IN_DATABASE it goes to the
    sink only and the database is only read.
    """
    if not report.ok:
        raise Conflict("the audit trail does not verify, so no checkpoint seals it")
    places = places or CheckpointPlaces.from_settings()
    return write_checkpoint(
        session,
        reason=reason,
        places=places,
        head=(report.head_id, report.head_hash),
        sink_lines_before=sink_line_count(places) if after_restore else None,
        in_database=in_database,
    )


def rotate_checkpoint_key(
    session: Session, report: VerificationReport, *, places: CheckpointPlaces | None = None
) -> tuple[AuditCheckpoint, Path]:
    """Retire the sealing key for a new one and seal the verified head with the new key.

    The retired key stays beside the key file, so the checkpoints it sealed can still be checked.
    """
    if not report.ok:
        raise Conflict(
            "the audit trail does not verify: the key is rotated only after a clean "
            "`qmm audit verify`, so the new key never vouches for a damaged trail"
        )
    places = places or CheckpointPlaces.from_settings()
    key, retired = rotate_key(places)
    checkpoint = write_checkpoint(
        session,
        reason="key rotation",
        places=places,
        head=(report.head_id, report.head_hash),
        key=key,
    )
    return checkpoint, retired


@dataclass(frozen=True)
class DueCheckpoint:
    """What a periodic check did: nothing (a recent checkpoint exists), or verified and sealed."""

    report: VerificationReport | None = None
    written: AuditCheckpoint | None = None


def checkpoint_if_due(
    engine: Engine,
    *,
    places: CheckpointPlaces | None = None,
    max_age: timedelta = DAILY,
    now: datetime | None = None,
) -> DueCheckpoint:
    """Verify and seal when the newest checkpoint is older than MAX_AGE (or there is none).

    For a long-running server, so the trail is sealed at least daily even when nobody runs
    `qmm audit verify`; a damaged trail is reported and left unsealed.
    """
    now = now or utcnow()
    with unit_of_work(engine) as session:
        newest = newest_checkpoint(session)
        if newest is not None and now - newest.created_at < max_age:
            return DueCheckpoint()
        report = verify(session, places=places)
    if not report.ok:
        return DueCheckpoint(report=report)
    with unit_of_work(engine) as session:
        begin_writing(session)
        written = seal_verified_head(session, report, reason="daily", places=places)
    return DueCheckpoint(report=report, written=written)
