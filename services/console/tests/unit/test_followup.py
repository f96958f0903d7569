"""Screen 6, the follow-up list: reminders by day (he/en), done and move as PATCHes of
timeline-svc, logging a call in a few keystrokes, and the card's status re-read until it moves."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_console.domain.followup import by_day, from_local_input
from crm_contracts.permissions import Role

from .conftest import me

pytestmark = pytest.mark.unit

ZONE = ZoneInfo("Asia/Jerusalem")
DANA = "8ae4ac7a-6d9e-4f18-8471-43665705a49b"
CARD = "96eb5dc6-82f2-4f8c-9f1c-a71217d83037"
R1, R2, R3, R4 = (f"00000000-0000-0000-0000-00000000000{i}" for i in range(1, 5))
HX = {"HX-Request": "true"}


def reminder(rid: str, due: datetime, summary: str = "call back") -> dict:
    return {
        "id": rid,
        "customer_id": CARD,
        "kind": "reminder",
        "due_at": due.isoformat(),
        "summary": summary,
        "done": False,
        "owner_id": DANA,
    }


def reminders_now() -> list[dict]:
    now = datetime.now(UTC)
    local = now.astimezone(ZONE)
    end_of_today = datetime.combine(local.date(), datetime.max.time(), tzinfo=ZONE) - timedelta(minutes=1)
    later_today = min(now + timedelta(minutes=5), end_of_today)
    return [
        reminder(R1, now - timedelta(days=2), "overdue one"),
        reminder(R2, later_today, "today one"),
        reminder(
            R3, datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=ZONE) + timedelta(hours=10), "tomorrow one"
        ),
        reminder(
            R4, datetime.combine(local.date() + timedelta(days=5), datetime.min.time(), tzinfo=ZONE) + timedelta(hours=9), "later one"
        ),
    ]


@pytest.fixture
def timeline(services):
    services.on("timeline", "GET", "/v1/reminders", lambda params, json: {"items": reminders_now(), "next_cursor": None})
    services.on(
        "customer",
        "GET",
        f"/v1/customers/{CARD}",
        {"id": CARD, "number": 500123, "first_name": "Noa", "last_name": "Barak", "status": "new"},
    )
    return services


def dana(services, client_factory, language="en"):
    client = client_factory(role=Role.SALES_REP, language=language)
    services.on("customer", "GET", "/v1/me", me(Role.SALES_REP, rep_id=DANA))
    return client


def test_reminders_group_into_overdue_today_tomorrow_and_each_later_day():
    now = datetime(2026, 12, 7, 10, 0, tzinfo=ZONE)
    items = [
        {"id": "a", "due_at": (now - timedelta(hours=1)).isoformat()},
        {"id": "b", "due_at": (now + timedelta(hours=2)).isoformat()},
        {"id": "c", "due_at": (now + timedelta(days=1)).isoformat()},
        {"id": "d", "due_at": (now + timedelta(days=3)).isoformat()},
        {"id": "e", "due_at": (now + timedelta(days=3, hours=1)).isoformat()},
        {"id": "f", "due_at": (now + timedelta(days=4)).isoformat()},
    ]
    days = by_day(items, now, ZONE)
    assert [(d.key, [i["id"] for i in d.items]) for d in days] == [
        ("overdue", ["a"]),
        ("today", ["b"]),
        ("tomorrow", ["c"]),
        ("later", ["d", "e"]),
        ("later", ["f"]),
    ]
    # 23:30 UTC on the 6th is already the 7th in Jerusalem: "today" follows the workspace's zone
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert by_day([{"id": "x", "due_at": "2026-12-07T09:00:00+02:00"}], late, ZONE)[0].key == "today"


def test_the_list_shows_my_reminders_by_day_with_headers_in_english(console, timeline):
    page = dana(timeline, console).get("/follow-up")
    assert page.status_code == 200
    assert timeline.sent("timeline", "GET", "/v1/reminders")[-1]["params"]["owner_id"] == DANA
    text = page.text
    assert text.index(">Overdue<") < text.index(">Today") < text.index(">Tomorrow") < text.index("later one")
    assert f'href="/customers/{CARD}"' in text and "<bdi>Noa Barak</bdi>" in text


def test_the_list_in_hebrew_has_hebrew_day_headers_and_a_hebrew_later_date(console, timeline):
    page = dana(timeline, console, language="he").get("/follow-up")
    assert ">באיחור<" in page.text and ">היום" in page.text and ">מחר" in page.text
    assert 'dir="rtl"' in page.text and "בוצע" in page.text


def test_done_posts_a_patch_with_done_true_and_answers_the_list(console, timeline):
    timeline.on("timeline", "PATCH", f"/v1/interactions/{R1}", {"id": R1, "done": True})
    answer = dana(timeline, console).post(f"/follow-up/items/{R1}/done", data={"who": "mine"}, headers=HX)
    assert answer.status_code == 200 and "Marked done." in answer.text
    assert timeline.sent("timeline", "PATCH", f"/v1/interactions/{R1}")[0]["json"] == {"done": True}


def test_move_posts_the_new_due_time_in_the_workspaces_zone(console, timeline):
    timeline.on("timeline", "PATCH", f"/v1/interactions/{R2}", {"id": R2})
    client = dana(timeline, console)
    answer = client.post(f"/follow-up/items/{R2}/move", data={"due_at": "2026-12-09T08:30"}, headers=HX)
    assert answer.status_code == 200 and "Moved." in answer.text
    assert timeline.sent("timeline", "PATCH", f"/v1/interactions/{R2}")[0]["json"] == {"due_at": "2026-12-09T08:30:00+02:00"}
    refused = client.post(f"/follow-up/items/{R2}/move", data={"due_at": "soon"}, headers=HX)
    assert refused.status_code == 422 and f'id="e-move-{R2}"' in refused.text
    assert len(timeline.sent("timeline", "PATCH", f"/v1/interactions/{R2}")) == 1


def test_a_read_only_role_sees_the_list_without_done_move_or_the_call_form(console, timeline):
    page = console(role=Role.READ_ONLY).get("/follow-up")
    assert page.status_code == 200 and "today one" in page.text
    assert "/done" not in page.text and "/move" not in page.text and 'hx-post="/follow-up/call"' not in page.text
    assert console(role=Role.READ_ONLY).post(f"/follow-up/items/{R1}/done", headers=HX).status_code == 403


def test_logging_a_call_by_card_number_posts_the_call_and_then_rereads_the_status(console, timeline):
    timeline.on("customer", "GET", "/v1/customers/by-number/500123", {"id": CARD, "number": 500123, "last_name": "Barak", "status": "new"})
    timeline.on("timeline", "POST", "/v1/interactions", {"id": R1})
    client = dana(timeline, console)
    answer = client.post("/follow-up/call", data={"number": "500123", "outcome": "no_answer", "summary": "left no message"}, headers=HX)
    assert answer.status_code == 201
    assert timeline.sent("timeline", "POST", "/v1/interactions")[0]["json"] == {
        "customer_id": CARD,
        "kind": "call",
        "direction": "outbound",
        "outcome": "no_answer",
        "summary": "left no message",
    }
    assert f"/follow-up/card/{CARD}/status?before=new" in answer.text
    # the status has not moved yet: the fragment keeps re-reading; once it moved it stops and says so
    timeline.on(
        "timeline",
        "GET",
        f"/v1/customers/{CARD}/timeline",
        {"items": [{"kind": "call", "summary": "Call (outbound, no answer)", "occurred_at": "2026-12-07T04:00:00Z"}]},
    )
    waiting = client.get(f"/follow-up/card/{CARD}/status?before=new&n=1", headers=HX)
    assert 'hx-trigger="every 1s, sse:card-' in waiting.text
    timeline.on("customer", "GET", f"/v1/customers/{CARD}", {"id": CARD, "number": 500123, "status": "follow_up"})
    moved = client.get(f"/follow-up/card/{CARD}/status?before=new&n=2", headers=HX)
    assert "hx-trigger" not in moved.text and "New → Follow-up" in moved.text and "Call (outbound, no answer)" in moved.text


def test_a_call_without_an_outcome_or_with_an_unknown_number_is_refused_by_field_in_hebrew(console, timeline):
    timeline.refuse("customer", "GET", "/v1/customers/by-number/999999", 404, {"type": "not-found"})
    answer = dana(timeline, console, language="he").post("/follow-up/call", data={"number": "999999", "summary": "kept"}, headers=HX)
    assert answer.status_code == 422
    assert 'id="e-number"' in answer.text and "אין כרטיס במספר הזה" in answer.text
    assert 'id="e-outcome"' in answer.text and "בחרו את תוצאת השיחה." in answer.text
    assert 'value="kept"' in answer.text  # nothing typed is lost
    assert timeline.sent("timeline", "POST", "/v1/interactions") == []


def test_the_row_call_button_opens_the_form_for_that_card_with_access_keys(console, timeline):
    form = dana(timeline, console).get(f"/follow-up/call?customer_id={CARD}", headers=HX)
    assert f'name="customer_id" value="{CARD}"' in form.text and 'name="number"' not in form.text
    assert 'accesskey="2"' in form.text and 'value="no_answer" accesskey="2"' in form.text


def test_a_local_date_time_is_read_in_the_workspaces_zone():
    assert from_local_input("2026-07-01T09:00", ZONE) == datetime(2026, 7, 1, 9, 0, tzinfo=ZONE)
    assert from_local_input("tomorrow", ZONE) is None


def test_my_scheduled_meetings_join_the_days_and_done_marks_them_held_move_reschedules(console, timeline):
    meeting_at = datetime.now(UTC) + timedelta(days=1)
    meeting = {
        "id": R4.replace("4", "9"),
        "customer_id": CARD,
        "kind": "meeting",
        "outcome": "scheduled",
        "scheduled_at": meeting_at.isoformat(),
        "summary": "demo at the office",
    }
    timeline.on("timeline", "GET", "/v1/meetings", {"items": [meeting], "next_cursor": None})
    timeline.on("timeline", "PATCH", f"/v1/interactions/{meeting['id']}", {"id": meeting["id"]})
    client = dana(timeline, console)
    page = client.get("/follow-up")
    assert timeline.sent("timeline", "GET", "/v1/meetings")[-1]["params"] == {"limit": 100, "owner_id": DANA, "state": "scheduled"}
    assert f'data-reminder="{meeting["id"]}" data-kind="meeting"' in page.text and ">Meeting<" in page.text
    client.post(f"/follow-up/items/{meeting['id']}/done", data={"kind": "meeting"}, headers=HX)
    client.post(f"/follow-up/items/{meeting['id']}/move", data={"kind": "meeting", "due_at": "2026-12-10T11:00"}, headers=HX)
    assert [c["json"] for c in timeline.sent("timeline", "PATCH", f"/v1/interactions/{meeting['id']}")] == [
        {"outcome": "held"},
        {"scheduled_at": "2026-12-10T11:00:00+02:00"},
    ]


def test_a_timeline_service_without_the_meetings_list_still_shows_the_reminders(console, timeline):
    page = dana(timeline, console).get("/follow-up")  # the fake answers 404 for /v1/meetings
    assert page.status_code == 200 and "today one" in page.text


def test_without_htmx_a_logged_call_answers_the_whole_page(console, timeline):
    timeline.on("customer", "GET", "/v1/customers/by-number/500123", {"id": CARD, "number": 500123, "last_name": "Barak", "status": "new"})
    timeline.on("timeline", "POST", "/v1/interactions", {"id": R1})
    answer = dana(timeline, console).post("/follow-up/call", data={"number": "500123", "outcome": "busy"})
    assert answer.status_code == 200 and "<html" in answer.text and "today one" in answer.text
    assert f"/follow-up/card/{CARD}/status?before=new" in answer.text
