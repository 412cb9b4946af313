"""Modus operandi bulletins without a broker: the form read, the alert made, its line, its route
(consumers/desk/bulletins.py, consumers/alert_text.py, consumers/notify/route.py)."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import pytest

from consumers.alert_text import summary
from consumers.desk.bulletins import (
    Bulletin,
    BulletinRefusal,
    bulletin_alert,
    read_bulletin,
    unit_area,
)
from consumers.desk.users import DeskUser
from consumers.notify.route import BranchSite, Directory, SubscriptionRule, route
from consumers.notify.subscriptions import SubscriptionSpec, create_subscription
from consumers.sink import store
from producers.api import admin
from schemas.alerts import (
    BULLETIN_MAX_CHARS,
    Alert,
    AlertKind,
    BranchAlertView,
    RecipientRole,
    Severity,
    alert_id_for,
)
from schemas.common import BranchType, Location, PoliceUnit
from schemas.distance import metres_between
from schemas.geography import police_unit_for
from schemas.topics import ALERTS
from schemas.wire import decode_as
from tests import factories
from tests.consumers.test_desk import (
    AMS_USER,
    audit_rows,
    csrf_token,
    logged_in,
    served_desk,
    users,
)
from tests.consumers.test_notify_service import _running, _settled
from tests.consumers.test_notify_webhook import SECRET, WebhookReceiver
from tests.kafka_helpers import eventually, read_topic, records_up_to_now

if TYPE_CHECKING:
    from collections.abc import Callable

    import asyncpg

    from heterdaad.settings import Settings

AMS = PoliceUnit.AMSTERDAM
SUPERMARKET, JEWELLER = BranchType.SUPERMARKET, BranchType.JEWELLER
TEXT = "Daders doen zich voor als pakketbezorger vlak voor sluitingstijd."
NOW = datetime(2026, 12, 7, 20, 15, tzinfo=UTC)
USER = DeskUser("ams.coordinator", AMS, "nl")


@pytest.mark.parametrize(
    ("text", "kinds", "unit", "read"),
    [
        # As written, the unit left out (the form does not ask): the user's own.
        (TEXT, ["supermarket"], None, Bulletin(TEXT, (SUPERMARKET,))),
        # Its own unit named, a kind twice: once.
        (TEXT, ["supermarket", "jeweller", "supermarket"], "amsterdam",
         Bulletin(TEXT, (SUPERMARKET, JEWELLER))),
        # Control characters go, tab and newline stay, the ends are trimmed.
        ("  eerst\x00 bellen\x1b,\tdan\x7f\nbinnen\x85 ", ["jeweller"], "",
         Bulletin("eerst bellen,\tdan\nbinnen", (JEWELLER,))),
        # Nothing said, or only what is stripped.
        ("", ["supermarket"], None, BulletinRefusal("text", "text_missing")),
        ("\x00\x01 \n", ["supermarket"], None, BulletinRefusal("text", "text_missing")),
        (None, ["supermarket"], None, BulletinRefusal("text", "text_missing")),
        # A plate, written plainly or with an invisible character inside it: no plate goes
        # to a branch. Invisible format characters go, as control characters do.
        ("Vluchtauto 12-ABC-3, zwart", ["supermarket"], None,
         BulletinRefusal("text", "text_has_plate")),
        ("Vluchtauto 12-A\u200bBC-3, zwart", ["supermarket"], None,
         BulletinRefusal("text", "text_has_plate")),
        ("eerst\u200b bellen\u202e", ["jeweller"], None, Bulletin("eerst bellen", (JEWELLER,))),
        # A plate's pseudonym, as the desk shows it, pasted in: it still links one person.
        ("Vluchtauto hp1:k1:0123456789abcdef0123456789abcdef", ["supermarket"], None,
         BulletinRefusal("text", "text_has_plate")),
        # One character too many.
        ("x" * (BULLETIN_MAX_CHARS + 1), ["supermarket"], None,
         BulletinRefusal("text", "text_too_long")),
        # No kind of branch, or one the contract does not know.
        (TEXT, [], None, BulletinRefusal("branch_types", "branch_types_missing")),
        (TEXT, ["supermarket", "casino"], None,
         BulletinRefusal("branch_types", "branch_type_unknown")),
        # Another unit: not this user's to warn, whatever else the form says.
        (TEXT, ["supermarket"], "rotterdam", BulletinRefusal("police_unit", "other_unit")),
        ("", [], "den-haag", BulletinRefusal("police_unit", "other_unit")),
    ],
)  # fmt: skip
def test_what_a_bulletin_form_gives(
    text: object, kinds: list[object], unit: object, read: Bulletin | BulletinRefusal
) -> None:
    assert read_bulletin(text, kinds, unit, AMS) == read


def test_the_longest_bulletin_is_taken_whole() -> None:
    longest = "x" * BULLETIN_MAX_CHARS
    assert read_bulletin(longest, ["bank"], None, AMS) == Bulletin(longest, (BranchType.BANK,))


@pytest.mark.parametrize("unit", list(PoliceUnit))
def test_a_units_area_holds_its_places(unit: PoliceUnit) -> None:
    """The circle the desk's map and a watch's coarse view draw: around the unit's places."""
    area = unit_area(unit)
    assert area.radius_m is not None and area.radius_m <= 100_000
    assert police_unit_for(area.center) is unit or unit in (
        # A unit shaped like a ring or a crescent may have its middle elsewhere.
        PoliceUnit.NOORD_HOLLAND, PoliceUnit.ZEELAND_WEST_BRABANT,
    )  # fmt: skip


def test_a_bulletin_is_one_alert_of_the_users_unit() -> None:
    alert = bulletin_alert(USER, Bulletin(TEXT, (SUPERMARKET, JEWELLER)), NOW)
    assert alert.kind is AlertKind.MODUS_OPERANDI_BULLETIN
    assert alert.severity is Severity.INFO
    assert alert.police_unit is AMS and alert.area == unit_area(AMS)
    assert alert.branch_types_at_risk == [SUPERMARKET, JEWELLER]
    assert alert.bulletin == TEXT
    assert alert.created_at == alert.occurred_at == NOW
    assert alert.dedup_key.startswith("mo-bulletin:")
    assert alert.alert_id == alert_id_for(alert.dedup_key)
    # Each bulletin is its own, even the same words twice.
    again = bulletin_alert(USER, Bulletin(TEXT, (SUPERMARKET, JEWELLER)), NOW)
    assert again.dedup_key != alert.dedup_key


def test_the_line_names_a_bulletin_and_says_it_in_the_readers_language() -> None:
    alert = bulletin_alert(USER, Bulletin(TEXT, (SUPERMARKET,)), NOW)
    dutch, english = summary(alert, "nl", NOW), summary(alert, "en", NOW)
    assert dutch.startswith(
        "[ter info] Nieuwe werkwijze · eenheid Amsterdam · in de hele eenheid · "
        "let op: supermarkten · werkwijze: \u201cDaders doen "
    )
    assert english.startswith(
        "[info] Modus operandi bulletin · unit Amsterdam · throughout the unit · "
        "at risk: supermarkets · modus operandi: \u201cDaders "
    )
    # No circle: a bulletin is for the unit's branches, not for those near its middle.
    assert "binnen" not in dutch and "within" not in english


def test_a_branch_view_carries_the_bulletin() -> None:
    alert = bulletin_alert(USER, Bulletin(TEXT, (SUPERMARKET,)), NOW)
    view = alert.view_for(RecipientRole.BRANCH, reference_key=b"k" * 32)
    assert isinstance(view, BranchAlertView) and view.bulletin == TEXT


# Oost-Nederland is some 150 km across: Enschede and Nijmegen lie far apart, both in it;
# Amersfoort (Midden-Nederland) lies nearer Apeldoorn than Enschede does.
ENSCHEDE, NIJMEGEN = (52.2215, 6.8937), (51.8426, 5.8546)
AMERSFOORT = (52.1561, 5.3878)


def _retailer(org: str, branch_type: BranchType, where: tuple[float, float], sid: int,
              **rule: object) -> tuple[SubscriptionRule, BranchSite]:  # fmt: skip
    site = BranchSite(f"{org}-1", org, None, branch_type, *where)
    subscription = SubscriptionRule(sid, org, "retailer", webhook_url=f"https://{org}.example/h",
                                    **rule)  # type: ignore[arg-type]  # fmt: skip
    return subscription, site


def test_a_bulletin_reaches_the_branches_of_its_kinds_in_its_unit_however_far() -> None:
    """Routing by the unit a branch lies in, not by distance: a circle around Oost-Nederland
    would reach into Midden-Nederland, and the retail cap (25 km from a branch) would leave
    the unit's far side out."""
    user = DeskUser("on.coordinator", PoliceUnit.OOST_NEDERLAND, "nl")
    alert = bulletin_alert(user, Bulletin(TEXT, (SUPERMARKET,)), NOW)
    amersfoort = Location(lat=AMERSFOORT[0], lon=AMERSFOORT[1])
    assert police_unit_for(amersfoort) is PoliceUnit.MIDDEN_NEDERLAND
    assert alert.area.radius_m is not None
    center = alert.area.center
    # The circle does reach Amersfoort: distance alone would have sent it there.
    assert metres_between(center.lat, center.lon, *AMERSFOORT) < alert.area.radius_m + 25_000
    parts = [
        _retailer("enschede", SUPERMARKET, ENSCHEDE, 1),
        _retailer("nijmegen", SUPERMARKET, NIJMEGEN, 2,
                  alert_kinds=frozenset({AlertKind.MODUS_OPERANDI_BULLETIN})),
        _retailer("amersfoort", SUPERMARKET, AMERSFOORT, 3),
        # In the unit, but a kind not at risk; and one that takes robberies only.
        _retailer("juwelier", JEWELLER, NIJMEGEN, 4),
        _retailer("alleen-overvallen", SUPERMARKET, ENSCHEDE, 5,
                  alert_kinds=frozenset({AlertKind.ROBBERY_REPORTED})),
    ]  # fmt: skip
    directory = Directory(
        subscriptions=tuple(rule for rule, _ in parts),
        branches={site.organisation_id: (site,) for _, site in parts},
    )
    reached = {r.organisation_id for r in route(alert, directory, default_language="nl")}
    assert reached == {"enschede", "nijmegen"}


# --- through the desk, Kafka, PostgreSQL and notify -----------------------------------------

HAARLEM = Location(lat=52.3809, lon=4.6368)  # Noord-Holland, 18 km from the Dam


async def _retailers(db: asyncpg.Connection, hook: Callable[[str], str]) -> None:
    """A supermarket in Amsterdam, one in Haarlem (the next unit, within the retail cap of
    Amsterdam's circle) and a jeweller in Amsterdam; each subscribed to bulletins."""
    await admin.create_organisation(
        db, "politie-ams", "Politie Amsterdam", "police", police_unit=AMS
    )
    shops = (("ah", "ah-1", SUPERMARKET, factories.DAM_SQUARE, "en"),
             ("super-hlm", "hlm-1", SUPERMARKET, HAARLEM, "nl"),
             ("juwelier", "jw-1", JEWELLER, factories.DAM_SQUARE, "nl"))  # fmt: skip
    for org, branch_id, kind, where, language in shops:
        await admin.create_organisation(db, org, org, "retailer")
        await admin.create_branch(
            db, org, factories.branch(branch_id=branch_id, branch_type=kind, location=where)
        )
        spec = SubscriptionSpec.model_validate({
            "alert_kinds": ["modus_operandi_bulletin"], "webhook_url": hook(org),
            "webhook_secret": SECRET, "language": language,
        })  # fmt: skip
        await create_subscription(db, org, spec, actor="test")


@pytest.mark.integration
async def test_a_bulletin_written_on_the_desk_reaches_the_units_branches_at_risk(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """§7.3 c: a unit's coordinator shares a new modus operandi; it goes out as one alert on
    the alerts topic, is audited, comes back to the desk, and notify sends it to the
    subscribed branches of its kinds in the unit, in their language: the Amsterdam
    supermarket, not the jeweller next door nor the supermarket over the border in Haarlem."""
    await users(db)
    topic = ALERTS.name(settings.topic_prefix)
    async with WebhookReceiver() as receiver:
        await _retailers(db, receiver.hook)
        async with served_desk(settings) as base_url, logged_in(base_url) as client:
            form = await client.get("/bulletins/new")
            assert form.status_code == 200 and "Nieuwe werkwijze delen" in form.text
            sent = await client.post("/bulletins", data={
                "csrf": csrf_token(form.text), "text": f"  {TEXT}\x07 ",
                "branch_types": ["supermarket"],
            })  # fmt: skip
            assert sent.status_code == 303, sent.text
            assert "De werkwijze is verstuurd" in (await client.get(sent.headers["location"])).text
            [record] = await read_topic(settings.kafka_bootstrap, topic, count=1)
            alert = decode_as(Alert, ALERTS, record.value, record.headers)
            assert alert.kind is AlertKind.MODUS_OPERANDI_BULLETIN and alert.police_unit is AMS
            assert alert.bulletin == TEXT and alert.branch_types_at_risk == [SUPERMARKET]
            # Back through the sink, on the desk like any alert.
            await store(db, alert)
            page = await client.get(f"/alerts/{alert.alert_id}")
            assert page.status_code == 200 and TEXT in page.text
            assert "Nieuwe werkwijze" in page.text
        [audited] = await audit_rows(db, "bulletin_sent")
        assert audited["actor"] == f"desk:{AMS_USER}"
        assert audited["subject"] == str(alert.alert_id)
        assert json.loads(audited["details"])["branch_types"] == ["supermarket"]
        async with _running(settings):
            rows = await eventually(lambda: _settled(db, alert.dedup_key, 2))
    assert {name: row["state"] for name, row in rows.items()} == {
        "politie-ams/desk": "delivered", "ah/webhook": "delivered"}  # fmt: skip
    assert receiver.delivered("super-hlm") == [] and receiver.delivered("juwelier") == []
    [delivered] = receiver.delivered("ah")
    [entry] = delivered.document["alerts"]
    assert entry["view"]["kind"] == "modus_operandi_bulletin"
    assert entry["view"]["bulletin"] == TEXT
    assert entry["summary"].startswith("[info] Modus operandi bulletin · unit Amsterdam")


@pytest.mark.integration
async def test_a_bulletin_that_cannot_be_sent_is_refused_by_field_and_nothing_is_published(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await users(db)
    async with served_desk(settings) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as stranger:
            # No session: neither the form nor the action.
            assert (await stranger.get("/bulletins/new")).headers["location"] == "/login"
            refused = await stranger.post("/bulletins", data={"text": TEXT,
                                                              "branch_types": "bank"})  # fmt: skip
            assert refused.status_code == 401
        async with logged_in(base_url) as client:
            csrf = csrf_token((await client.get("/bulletins/new")).text)
            good = {"csrf": csrf, "text": TEXT, "branch_types": ["supermarket"]}
            cases: list[tuple[dict[str, object], str, int, str]] = [
                ({**good, "text": "  "}, "", 422, "Werkwijze (text): vul de werkwijze in"),
                ({**good, "text": "x" * 1001}, "", 422,
                 "Werkwijze (text): ten hoogste 1000 tekens"),
                ({**good, "branch_types": []}, "", 422,
                 "Soorten filialen (branch_types): kies ten minste één soort filiaal"),
                ({**good, "branch_types": ["supermarket", "casino"]}, "?lang=en", 422,
                 "Kinds of branch (branch_types): unknown kind of branch"),
                ({**good, "police_unit": "rotterdam"}, "", 403,
                 "Eenheid (police_unit): u kunt alleen naar uw eigen eenheid versturen"),
                ({key: value for key, value in good.items() if key != "csrf"}, "", 403,
                 "Dit verzoek is geweigerd"),
                ({**good, "csrf": "not-the-token"}, "", 403, "Dit verzoek is geweigerd"),
            ]  # fmt: skip
            for data, query, status, said in cases:
                answer = await client.post(f"/bulletins{query}", data=data)
                assert answer.status_code == status, (data, answer.text)
                assert html.escape(said, quote=False) in answer.text, answer.text
            # What was typed stays on the form to correct.
            again = await client.post("/bulletins", data={**good, "branch_types": []})
            assert TEXT in again.text
    topic = ALERTS.name(settings.topic_prefix)
    assert await records_up_to_now(settings.kafka_bootstrap, topic, ALERTS.partitions) == []
    assert await audit_rows(db, "bulletin_sent") == []
