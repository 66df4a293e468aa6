"""Settings from the environment, so a fresh machine needs no configuration file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where QMM Workbench keeps its data; every field can be set as QMM_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="QMM_", extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("qmm-workbench", appauthor=False)),
        description="Directory for the embedded databases and stored files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the app database; default: a SQLite file in data_dir.",
    )

    events_url: str | None = Field(
        default=None,
        description="Where the event store keeps its Parquet batches (a directory or file:// "
        "URL); default: data_dir/events.",
    )

    evidence_max_bytes: int = Field(
        default=25 * 1024 * 1024,
        gt=0,
        description="Largest file, in bytes, that can be attached to an evidence item.",
    )

    xlsx_max_unpacked_bytes: int = Field(
        default=1 << 30,
        gt=0,
        description="Largest total unpacked size, in bytes, of an .xlsx workbook to import; a "
        "larger one is refused before it is read.",
    )
    xlsx_max_ratio: int = Field(
        default=100,
        gt=0,
        description="Most times a part of an .xlsx workbook (over 4 MiB unpacked) may unpack "
        "beyond its packed size; a part compressed more is refused as a zip bomb.",
    )
    xlsx_max_cells: int = Field(
        default=25_000_000,
        gt=0,
        description="Most cells (rows times columns) a sheet of an .xlsx workbook may hold to be "
        "imported; a larger extract imports as CSV or Parquet.",
    )

    import_date_horizon_days: int = Field(
        default=365,
        gt=0,
        description="How many days after an extract's date (else the import's date) a date in "
        "it may lie; a later date is refused as a typing error (2099 for 2029).",
    )
    import_max_line_bytes: int = Field(
        default=1 << 20,
        ge=256,
        description="Longest line, in bytes, a CSV or JSON-lines extract may hold; a longer one "
        "is refused with its line number.",
    )

    checkpoint_key_file: Path | None = Field(
        default=None,
        description="The secret key that seals audit checkpoints (kept out of the database, "
        "mode 0600, created on first use); default: data_dir/audit-checkpoint.key.",
    )
    checkpoint_sink: Path | None = Field(
        default=None,
        description="The append-only file every audit checkpoint is also written to (one JSON "
        "line each; put it on write-once storage); default: data_dir/audit-checkpoints.jsonl.",
    )

    @property
    def checkpoint_key_path(self) -> Path:
        """Where the key that seals audit checkpoints lives."""
        return self.checkpoint_key_file or self.data_dir / "audit-checkpoint.key"

    @property
    def checkpoint_sink_path(self) -> Path:
        """The append-only file of audit checkpoints outside the database."""
        return self.checkpoint_sink or self.data_dir / "audit-checkpoints.jsonl"

    cli_require_password: str = Field(
        default="signing",
        description="When the command line asks for the password of the user it acts as (--as "
        "or QMM_USER): 'signing' (commands that sign or approve; the default) or 'all' (every "
        "command). The password comes from a hidden prompt, or QMM_CLI_PASSWORD for scripts.",
    )

    password_hash_cost: Literal["standard", "cheap"] = Field(
        default="standard",
        description="Argon2id cost of new password hashes: 'standard' (3 passes, 64 MiB, 4 lanes) "
        "for every installation; 'cheap' (1 pass, 8 KiB, 1 lane) only for test suites.",
    )

    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address people open the web app at; links in e-mail digests start here.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="The SMTP server that sends e-mail digests; unset: no mail is sent.",
    )
    smtp_port: str | None = Field(
        default=None,
        description="The SMTP server's port; default 587 (STARTTLS), 465 (SSL), 25 (none).",
    )
    smtp_security: str = Field(
        default="starttls",
        description="How the SMTP connection is protected: 'starttls' (default), 'ssl' or 'none'.",
    )
    smtp_user: str | None = Field(
        default=None, description="The SMTP login name; unset: the server is not signed in to."
    )
    smtp_password: str | None = Field(
        default=None, description="The SMTP password (else QMM_SMTP_PASSWORD_FILE)."
    )
    smtp_password_file: Path | None = Field(
        default=None, description="A file holding the SMTP password, for secrets mounted as files."
    )
    smtp_from: str = Field(
        default="QMM Workbench <qmm@localhost>",
        description="The From address of e-mail digests.",
    )
    smtp_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long to wait for the SMTP server before giving up."
    )

    @property
    def evidence_dir(self) -> Path:
        """Where attached evidence files live, named by their SHA-256."""
        return self.data_dir / "evidence-files"

    @property
    def events_dir(self) -> Path:
        """The event store's directory of Parquet batches."""
        if not self.events_url:
            return self.data_dir / "events"
        return Path(self.events_url.removeprefix("file://"))

    @property
    def resolved_database_url(self) -> str:
        """The app database URL, falling back to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'qmm.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process."""
    return Settings()
