"""Error types that carry the HTTP status and exit code a boundary should use."""

from __future__ import annotations

from dataclasses import dataclass


class QMMError(Exception):
    """Base of every error a user can cause; the message says what is wrong and how to fix it."""

    status_code: int = 400
    exit_code: int = 2


class NotFound(QMMError):
    """A named record does not exist."""

    status_code = 404


class Unauthenticated(QMMError):
    """Credentials are missing, wrong, expired or locked."""

    status_code = 401


class Forbidden(QMMError):
    """The user is known but has no right to do this here."""

    status_code = 403


class Conflict(QMMError):
    """The request clashes with what is stored (a duplicate code, a closed assessment)."""

    status_code = 409


class InvalidInput(QMMError):
    """Input that cannot be accepted as given."""

    status_code = 422


class InvalidFields(InvalidInput):
    """Fields of one record that cannot be stored; `problems` maps each field to what is wrong."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass(frozen=True)
class RowProblem:
    """One problem in one row of an input file: where, what value, and why it is refused."""

    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}, value {self.value!r}: {self.reason}"


class InvalidFile(InvalidInput):
    """A file with one or more invalid rows; nothing of it is stored."""

    def __init__(self, path: str, problems: list[RowProblem]) -> None:
        self.path = path
        self.problems = problems
        listed = "\n".join(f"  {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{path}: {len(problems)} {noun}, nothing was stored:\n{listed}")
