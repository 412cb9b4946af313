"""Tunable numbers of the police desk: escalation, sessions, how much of the past the list shows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DeskThresholds(BaseModel):
    """The desk's thresholds (docs/desk.md); meant for Settings as HETERDAAD_DESK__<FIELD>."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    escalate_hold_up_after_seconds: float = Field(
        120,
        gt=0,
        le=3600,
        description="A hold-up in progress that nobody acknowledged this long after it was "
        "raised is escalated: marked in the alert table, audited, logged at WARNING and shown "
        "with a banner on every desk of its unit. Two minutes: an offender is usually gone "
        "within a few, so an unread hold-up after two is a missed chance to catch them in the "
        "act (heterdaadkracht).",
    )
    escalation_check_seconds: float = Field(
        5, gt=0, le=300, description="How often the desk looks for hold-ups to escalate."
    )
    recent_hours: float = Field(
        24,
        gt=0,
        le=24 * 31,
        description="The list shows alerts of this many past hours plus every alert still open; "
        "older open hold-ups are not escalated any more (they are history, not an emergency).",
    )
    list_limit: int = Field(200, ge=1, le=2000, description="Most alerts on the list at once.")
    session_hours: float = Field(
        12, gt=0, le=24 * 7, description="A login lasts one shift, then the user logs in again."
    )
    min_password_length: int = Field(12, ge=8, le=128, description="For `desk user add`.")
    login_failures_per_user: int = Field(
        5,
        ge=1,
        le=1000,
        description="Failed logins for one user name within the login window before its "
        "logins are answered 429 until the window frees one (consumers/desk/throttle.py).",
    )
    login_failures_per_address: int = Field(
        20,
        ge=1,
        le=100_000,
        description="Failed logins from one client address within the login window (one "
        "source trying many names) before its logins are answered 429.",
    )
    login_window_minutes: float = Field(
        15, gt=0, le=24 * 60, description="The window the failed logins are counted in."
    )
    keepalive_seconds: float = Field(
        15,
        gt=0,
        le=300,
        description="A comment line on an idle live stream this often, which also re-checks "
        "the session: a logged-out or disabled user's stream ends within this time.",
    )
    tile_url: str = Field(
        "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png",
        max_length=500,
        description="The map's tiles, an XYZ template with {z}, {x} and {y} (web mercator). By "
        "default PDOK's BRT-Achtergrondkaart (Kadaster, open data), which police networks "
        "reach. Empty: no tiles, the offline sketch only. The page falls back to the sketch "
        "when no tile answers.",
    )
    tile_attribution: str = Field(
        "Kaart: BRT-Achtergrondkaart, Kadaster / PDOK (CC BY 4.0)",
        max_length=300,
        description="The map's credit line for its tiles.",
    )
    tile_max_zoom: int = Field(19, ge=1, le=22, description="The deepest zoom the tiles have.")
    tile_wait_seconds: float = Field(
        6,
        gt=0,
        le=60,
        description="With no tile loaded this long after the map opened, the page shows the "
        "offline sketch instead.",
    )
    camera_radius_m: float = Field(
        250,
        gt=0,
        le=2000,
        description="A robbery or hold-up alert's detail page lists the registered cameras "
        "(Camera in Beeld) within this distance of the alert, nearest first: a street's length "
        "either way, where an offender arriving or fleeing is filmed (docs/cameras.md).",
    )

    database_wait_seconds: float = Field(
        5,
        gt=0,
        le=60,
        description="How long a page, an action or a sweep waits for a free database "
        "connection. A page then answers 503 with Retry-After; the escalation sweep and the "
        "live feed log a warning and try again on their next round (heterdaad.db.BoundedPool).",
    )
    busy_retry_seconds: int = Field(
        5, ge=1, le=300, description="Retry-After of a page answered 503 for want of a connection."
    )

    @field_validator("tile_url")
    @classmethod
    def _tile_template(cls, url: str) -> str:
        if not url:
            return url
        if not url.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) address")
        missing = [part for part in ("{z}", "{x}", "{y}") if part not in url]
        if missing:
            raise ValueError(f"must contain {', '.join(missing)}")
        return url
