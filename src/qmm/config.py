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

    password_hash_cost: Literal["standard", "cheap"] = Field(
        default="standard",
        description="Argon2id cost of new password hashes: 'standard' (3 passes, 64 MiB, 4 lanes) "
        "for every installation; 'cheap' (1 pass, 8 KiB, 1 lane) only for test suites.",
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
