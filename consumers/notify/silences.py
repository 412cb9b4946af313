"""Silences: an operator mutes matching alerts for a while, with an author and a reason."""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from consumers.notify.admin import NotifyAdminError, audit, require_text, transaction

# Imported at run time: pydantic resolves the matcher's annotations from this module.
from consumers.notify.labels import LabelName

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import asyncpg

    from consumers.notify.admin import Database

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1024)
def _pattern(value: str) -> re.Pattern[str]:
    return re.compile(value)


class Matcher(BaseModel):
    """name=value, name!=value, name=~regex or name!~regex; a regex must match all of the value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: LabelName
    value: Annotated[str, Field(max_length=200)]
    op: Literal["=", "!=", "=~", "!~"] = "="

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                _pattern(self.value)
            except re.error as error:
                raise ValueError(f"{self.value!r} is not a regular expression: {error}") from None
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        match self.op:
            case "=":
                return actual == self.value
            case "!=":
                return actual != self.value
            case "=~":
                return _pattern(self.value).fullmatch(actual) is not None
            case "!~":
                return _pattern(self.value).fullmatch(actual) is None

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value!r}"

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`site_id=site-1`, `kind!=series`, `branch_types=~.*jeweller.*`, `site_id!~test-.*`."""
        found = _MATCHER_TEXT.fullmatch(text.strip())
        if found is None:
            raise NotifyAdminError(f"{text!r} is not name=value, name!=value, name=~re or name!~re")
        try:
            return cls.model_validate(
                {"name": found["name"], "op": found["op"], "value": found["value"]}
            )
        except ValueError as error:  # pydantic's ValidationError is one
            raise NotifyAdminError(f"{text!r}: {error}") from None


_MATCHER_TEXT = re.compile(r"(?P<name>[a-z_]+)(?P<op>=~|!~|!=|=)(?P<value>.*)")


class Silence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    silence_id: uuid.UUID
    matchers: Annotated[tuple[Matcher, ...], Field(min_length=1)]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    author: str
    reason: str
    created_at: AwareDatetime

    @field_validator("matchers")
    @classmethod
    def _not_everything(cls, matchers: tuple[Matcher, ...]) -> tuple[Matcher, ...]:
        # As in Alertmanager: a silence whose matchers all match an empty label set would
        # silence every alert; at least one matcher has to ask for something.
        if all(matcher.matches({}) for matcher in matchers):
            raise ValueError("at least one matcher must need a label value (it would mute all)")
        return matchers

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active(now) and all(matcher.matches(labels) for matcher in self.matchers)


def silenced_by(
    labels: Mapping[str, str], silences: Iterable[Silence], now: datetime
) -> Silence | None:
    """The first silence (oldest first) that mutes an alert with these labels now."""
    ordered = sorted(silences, key=lambda silence: (silence.created_at, str(silence.silence_id)))
    return next((silence for silence in ordered if silence.mutes(labels, now)), None)


async def create_silence(
    db: Database,
    matchers: Sequence[Matcher],
    *,
    author: str,
    reason: str,
    ends_at: datetime,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> Silence:
    """Mute matching alerts from `starts_at` (now) until `ends_at`; audited."""
    now = now or datetime.now(UTC)
    starts_at = starts_at or now
    if ends_at.tzinfo is None or starts_at.tzinfo is None:
        raise NotifyAdminError("starts_at and ends_at need a time zone")
    if ends_at <= max(starts_at, now):
        raise NotifyAdminError("ends_at must lie after starts_at and in the future")
    try:
        silence = Silence(
            silence_id=uuid.uuid4(),
            matchers=tuple(matchers),
            starts_at=starts_at,
            ends_at=ends_at,
            author=require_text("author", author, max_length=120),
            reason=require_text("reason", reason, max_length=500),
            created_at=now,
        )
    except ValueError as error:  # pydantic's ValidationError is one
        raise NotifyAdminError(str(error)) from None
    matcher_json = json.dumps([matcher.model_dump() for matcher in silence.matchers])
    async with transaction(db) as connection:
        await connection.execute(
            "INSERT INTO silence (silence_id, matchers, starts_at, ends_at, author, reason, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            silence.silence_id, matcher_json, silence.starts_at, silence.ends_at,
            silence.author, silence.reason, silence.created_at,
        )  # fmt: skip
        await audit(
            connection, at=now, actor=silence.author, action="silence_created",
            subject=str(silence.silence_id),
            details={"matchers": [str(m) for m in silence.matchers], "reason": silence.reason,
                     "starts_at": silence.starts_at, "ends_at": silence.ends_at},
        )  # fmt: skip
    logger.info(
        "silence created",
        extra={"silence_id": str(silence.silence_id), "author": silence.author,
               "matchers": [str(m) for m in silence.matchers], "ends_at": str(ends_at)},
    )  # fmt: skip
    return silence


async def list_silences(
    db: Database, *, include_expired: bool = False, now: datetime | None = None
) -> list[Silence]:
    """Silences not yet ended (scheduled ones too), or all of them; oldest first."""
    now = now or datetime.now(UTC)
    rows = await db.fetch(
        "SELECT * FROM silence WHERE $1 OR ends_at > $2 ORDER BY created_at, silence_id",
        include_expired,
        now,
    )
    return [_silence(row) for row in rows]


async def active_silences(db: Database, now: datetime) -> list[Silence]:
    rows = await db.fetch(
        "SELECT * FROM silence WHERE starts_at <= $1 AND ends_at > $1 ORDER BY created_at", now
    )
    return [_silence(row) for row in rows]


async def expire_silence(
    db: Database, silence_id: uuid.UUID, *, author: str, now: datetime | None = None
) -> bool:
    """Delete a silence the Alertmanager way: it ends now and its record stays; audited.

    False when there is no such silence or it had already ended.
    """
    now = now or datetime.now(UTC)
    author = require_text("author", author, max_length=120)
    async with transaction(db) as connection:
        expired = await connection.fetchval(
            "UPDATE silence SET starts_at = least(starts_at, $2), ends_at = $2, expired_by = $3 "
            "WHERE silence_id = $1 AND ends_at > $2 RETURNING silence_id",
            silence_id, now, author,
        )  # fmt: skip
        if expired is not None:
            await audit(
                connection, at=now, actor=author, action="silence_expired",
                subject=str(silence_id), details={},
            )  # fmt: skip
    logger.info(
        "silence expired",
        extra={"silence_id": str(silence_id), "author": author, "was_active": expired is not None},
    )
    return expired is not None


def _silence(row: asyncpg.Record) -> Silence:
    return Silence(
        silence_id=row["silence_id"],
        matchers=tuple(Matcher.model_validate(item) for item in json.loads(row["matchers"])),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        author=row["author"],
        reason=row["reason"],
        created_at=row["created_at"],
    )
