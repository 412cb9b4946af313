"""What a failing `heterdaad` command says: one line, what to do next.

A command that cannot reach PostgreSQL or Kafka, finds its database not migrated, is given a path
it cannot use, or lacks a setting, is the user's situation to mend, not a bug: a traceback of 50
to 80 lines hides the one fact that matters. Errors we do not recognise keep their traceback,
since those are bugs to report. Like all the CLI's own output, the line is English (README.md,
"Languages").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from heterdaad.plate_keys import PlateKeyChanged
from heterdaad.settings import SettingMissing

if TYPE_CHECKING:
    from heterdaad.settings import Settings

FAILURE_EXIT = 1

_TEXTS: dict[str, str] = {
    "database_away": (
        "PostgreSQL at {where} cannot be reached ({error}). Start it (`heterdaad infra up`, "
        "or `bash infra/demo.sh`) or point HETERDAAD_DATABASE_URL at a running database."
    ),
    "database_refused": (
        "PostgreSQL at {where} refuses the connection ({error}). Check the user, password and "
        "database in HETERDAAD_DATABASE_URL."
    ),
    "database_unmigrated": (
        "The database at {where} lacks in schema {schema} what this version needs ({error}). "
        "Bring it up to date with `heterdaad db migrate`, or check HETERDAAD_DATABASE_SCHEMA; "
        "if it is up to date, this is a bug: HETERDAAD_LOG_LEVEL=DEBUG shows its traceback."
    ),
    "plate_key_changed": (
        "HETERDAAD_PLATE_KEY is not the key that HETERDAAD_PLATE_KEY_ID={key_id} named when it "
        "was first used ({since}): under one id one plate would look like two. Give a new key a "
        "new id (README, \"Rotating the plate key\"), or set the key that {key_id} names."
    ),
    # A file or directory the command was given, or one it needs (a program it runs): the path
    # and why are the facts; what to do depends on which it was.
    "path_unusable": "{path}: {reason}.",
    "kafka_away": (
        "Kafka at {where} cannot be reached ({error}). Start it (`heterdaad infra up`, or "
        "`bash infra/demo.sh`) or point HETERDAAD_KAFKA_BOOTSTRAP at a running broker."
    ),
    "setting_missing": (
        "{variable} is not set: {why}. Set it, for example: export {variable}={example}"
    ),
    "pdf_missing": (
        "--pdf needs weasyprint, which is not installed. Install it with "
        "`pip install 'heterdaad[pdf]'` (and Pango: apt-get install libpango-1.0-0 "
        "libpangoft2-1.0-0), or leave out --pdf."
    ),
}

_ADDRESS = re.compile(r"\('?([0-9a-fA-F.:]+|[\w.-]+)'?,\s*(\d+)")


def text(key: str, **values: str) -> str:
    return _TEXTS[key].format(**values)


def explain(error: BaseException, settings: Settings) -> str | None:
    """The one line for an error the user can mend, or None for one that is a bug."""
    if isinstance(error, SettingMissing):
        return text(
            "setting_missing", variable=error.variable, why=error.why, example=error.example
        )
    if _is_kafka_error(error):
        return text("kafka_away", where=settings.kafka_bootstrap, error=_short(error))
    if _is_database_refusal(error):
        return text("database_refused", where=_database_address(settings), error=_short(error))
    if _is_missing_from_schema(error):
        # A new install or an upgrade before `db migrate`, or a schema name mistyped.
        return text("database_unmigrated", where=_database_address(settings),
                    schema=settings.database_schema, error=_short(error))  # fmt: skip
    if isinstance(error, PlateKeyChanged):
        return text("plate_key_changed", key_id=error.key_id,
                    since=f"{error.first_used_at:%Y-%m-%d}")  # fmt: skip
    if isinstance(error, OSError) and error.filename is not None:
        # A file or directory the command was told to use (schemas export DIR, digest --out).
        return text("path_unusable", path=str(error.filename),
                    reason=error.strerror or type(error).__name__)  # fmt: skip
    if isinstance(error, OSError | TimeoutError):
        where = _address_in(error)
        database = _database_address(settings)
        if where is not None and where.endswith(f":{database.rsplit(':', 1)[1]}"):
            return text("database_away", where=where, error=_short(error))
        if where is not None and where in settings.kafka_bootstrap.split(","):
            return text("kafka_away", where=where, error=_short(error))
        if where is None and isinstance(error, ConnectionError | TimeoutError):
            # asyncpg names no address on a timeout: only the database is reached that way here.
            return text("database_away", where=database, error=_short(error))
    return None


def _is_kafka_error(error: BaseException) -> bool:
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

    return isinstance(error, KafkaConnectionError | KafkaTimeoutError)


def _is_database_refusal(error: BaseException) -> bool:
    import asyncpg

    return isinstance(
        error,
        asyncpg.InvalidPasswordError
        | asyncpg.InvalidAuthorizationSpecificationError
        | asyncpg.InvalidCatalogNameError
        | asyncpg.CannotConnectNowError,
    )


def _is_missing_from_schema(error: BaseException) -> bool:
    import asyncpg

    from heterdaad.db import SchemaBehind

    return isinstance(
        error, SchemaBehind | asyncpg.UndefinedTableError | asyncpg.UndefinedColumnError
    )


def _short(error: BaseException) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return message or type(error).__name__


def _address_in(error: BaseException) -> str | None:
    match = _ADDRESS.search(str(error))
    return f"{match.group(1)}:{match.group(2)}" if match else None


def _database_address(settings: Settings) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(settings.database_url)
    return f"{parts.hostname}:{parts.port or 5432}"
