"""Who wants the worklist by e-mail and how often, and which digests went out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qmm.models.base import Base, UTCDateTime, utcnow
from qmm.models.user import User


class DigestFrequency(StrEnum):
    daily = "daily"
    weekly = "weekly"


class DigestSubscription(Base):
    """A person's choice: the worklist by e-mail, daily or weekly, or not at all (opted out)."""

    __tablename__ = "digest_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    frequency: Mapped[str] = mapped_column(String(10), default=DigestFrequency.weekly.value)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class SentDigest(Base):
    """One digest delivered to the SMTP server: at most one per person and period."""

    __tablename__ = "sent_digests"
    __table_args__ = (UniqueConstraint("user_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: The day (2026-12-07) of a daily digest, the ISO week (2026-W49) of a weekly one.
    period: Mapped[str] = mapped_column(String(20))
    frequency: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    items: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
