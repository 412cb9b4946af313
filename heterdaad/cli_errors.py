"""What a failing `heterdaad` command says: one line in the user's language, what to do next.

A command that cannot reach PostgreSQL or Kafka, or lacks a setting, is the user's situation to
mend, not a bug: a traceback of 50 to 80 lines hides the one fact that matters. Errors we do not
recognise keep their traceback, since those are bugs to report.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from heterdaad.settings import SettingMissing

if TYPE_CHECKING:
    from heterdaad.language import Language
    from heterdaad.settings import Settings

FAILURE_EXIT = 1

_TEXTS: dict[str, tuple[str, str]] = {
    "database_away": (
        "PostgreSQL op {where} is niet bereikbaar ({error}). Start hem (`heterdaad infra up`, "
        "of `bash infra/demo.sh`) of zet HETERDAAD_DATABASE_URL op een draaiende database.",
        "PostgreSQL at {where} cannot be reached ({error}). Start it (`heterdaad infra up`, "
        "or `bash infra/demo.sh`) or point HETERDAAD_DATABASE_URL at a running database.",
    ),
    "database_refused": (
        "PostgreSQL op {where} weigert de verbinding ({error}). Controleer gebruiker, wachtwoord "
        "en database in HETERDAAD_DATABASE_URL.",
        "PostgreSQL at {where} refuses the connection ({error}). Check the user, password and "
        "database in HETERDAAD_DATABASE_URL.",
    ),
    "kafka_away": (
        "Kafka op {where} is niet bereikbaar ({error}). Start hem (`heterdaad infra up`, of "
        "`bash infra/demo.sh`) of zet HETERDAAD_KAFKA_BOOTSTRAP op een draaiende broker.",
        "Kafka at {where} cannot be reached ({error}). Start it (`heterdaad infra up`, or "
        "`bash infra/demo.sh`) or point HETERDAAD_KAFKA_BOOTSTRAP at a running broker.",
    ),
    "setting_missing": (
        "{variable} is niet gezet: {why}. Zet hem, bijvoorbeeld: export {variable}={example}",
        "{variable} is not set: {why}. Set it, for example: export {variable}={example}",
    ),
    "pdf_missing": (
        "--pdf vraagt om weasyprint, dat niet geïnstalleerd is. Installeer het met "
        "`pip install 'heterdaad[pdf]'` (en Pango: apt-get install libpango-1.0-0 "
        "libpangoft2-1.0-0), of laat --pdf weg.",
        "--pdf needs weasyprint, which is not installed. Install it with "
        "`pip install 'heterdaad[pdf]'` (and Pango: apt-get install libpango-1.0-0 "
        "libpangoft2-1.0-0), or leave out --pdf.",
    ),
}

# Why a command needs a setting, per variable, in the user's language.
_WHY: dict[str, tuple[str, str]] = {
    "HETERDAAD_PLATE_KEY": (
        "wie kentekens ontvangt, heeft een geheim van minstens 32 tekens nodig om ze te "
        "pseudonimiseren",
        "services that receive licence plates need a secret of at least 32 characters to "
        "pseudonymise them",
    ),
}

_ADDRESS = re.compile(r"\('?([0-9a-fA-F.:]+|[\w.-]+)'?,\s*(\d+)")


def _in(language: Language, dutch: str, english: str) -> str:
    return dutch if language == "nl" else english


def text(key: str, language: Language, **values: str) -> str:
    return _in(language, *_TEXTS[key]).format(**values)


def explain(error: BaseException, settings: Settings) -> str | None:
    """The one line for an error the user can mend, or None for one that is a bug."""
    language: Language = settings.language
    if isinstance(error, SettingMissing):
        why = _in(language, *_WHY.get(error.variable, (error.why, error.why)))
        return text(
            "setting_missing", language, variable=error.variable, why=why, example=error.example
        )
    if _is_kafka_error(error):
        return text("kafka_away", language, where=settings.kafka_bootstrap, error=_short(error))
    if _is_database_refusal(error):
        return text("database_refused", language, where=_database_address(settings),
                    error=_short(error))  # fmt: skip
    if isinstance(error, OSError | TimeoutError):
        where = _address_in(error)
        database = _database_address(settings)
        if where is not None and where.endswith(f":{database.rsplit(':', 1)[1]}"):
            return text("database_away", language, where=where, error=_short(error))
        if where is not None and where in settings.kafka_bootstrap.split(","):
            return text("kafka_away", language, where=where, error=_short(error))
        if where is None and isinstance(error, ConnectionError | TimeoutError):
            # asyncpg names no address on a timeout: only the database is reached that way here.
            return text("database_away", language, where=database, error=_short(error))
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
