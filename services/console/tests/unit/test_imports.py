"""Screen 7, imports: the upload form offers the seed's duplicate policies, the file goes to
intake with the person's token and the chosen policy, the job's progress renders in the
person's locale and polls until it ends, row errors read by sheet row and column, refusals land
next to their fields, and roles without the section or `create` get no form."""

import pytest

from crm_console.domain.imports import column_of, progress, row_errors
from crm_contracts.permissions import Role, default_roles

pytestmark = pytest.mark.unit

JOB = "5b0c1d7e-0000-4000-8000-000000000001"
HX = {"HX-Request": "true"}
COLUMNS = {"שם משפחה": "last_name", "טלפון": "phone", "דוא״ל": "email"}


def job(state: str = "running", done: int = 1, total: int | None = 3, errors: list | None = None) -> dict:
    return {
        "id": JOB,
        "state": state,
        "policy": "skip",
        "filename": "leads.csv",
        "columns": COLUMNS,
        "ignored_columns": ["הערות"],
        "rows_total": total,
        "rows_done": done,
        "rows_read": done,
        "created": 1,
        "updated": 0,
        "skipped": 0,
        "failed": len(errors or []),
        "errors": errors or [],
        "reason": None,
        "channel_id": "11111111-1111-4111-8111-111111111111",
        "created_by": "user-1",
        "created_at": "2026-12-07T04:00:00Z",
        "updated_at": "2026-12-07T04:00:01Z",
    }


BAD_PHONE = {"row": 3, "field": "phones[0]", "message": "not a valid phone number"}


@pytest.fixture
def intake(services):
    services.on("intake", "GET", "/v1/imports", {"items": [job("done", 3, 3, [BAD_PHONE])]})
    services.on("intake", "GET", "/v1/channels", {"items": [], "next_cursor": None})
    return services


def test_the_form_offers_the_seeds_three_duplicate_policies_in_hebrew_with_skip_chosen(console, intake):
    page = console(role=Role.MANAGER, language="he").get("/imports")
    assert page.status_code == 200, page.text
    assert 'hx-encoding="multipart/form-data"' in page.text and 'type="file"' in page.text
    for value in ("skip", "fill_missing", "reset_status"):
        assert f'name="policy" value="{value}"' in page.text
    assert 'value="skip" checked' in page.text
    assert "השלמת מידע חסר" in page.text and "איפוס סטטוס השיווק" in page.text
    # The recent imports, linked, with their numbers.
    assert f'href="/imports/{JOB}"' in page.text and "<bdi>leads.csv</bdi>" in page.text
    assert "3 מתוך 3 שורות" in page.text


def test_an_upload_sends_the_file_and_policy_and_answers_a_polling_progress_bar(console, intake):
    intake.on("intake", "POST", "/v1/imports", {"id": JOB, "status_url": f"/v1/imports/{JOB}"})
    intake.on("intake", "GET", f"/v1/imports/{JOB}", job("running", 1234, 2000))
    client = console(role=Role.ADMINISTRATOR)
    answer = client.post(
        "/imports", files={"file": ("leads.csv", b"last_name\r\nCohen\r\n", "text/csv")}, data={"policy": "fill_missing"}, headers=HX
    )
    assert answer.status_code == 201, answer.text
    [sent] = intake.sent("intake", "POST", "/v1/imports")
    assert sent["data"] == {"policy": "fill_missing"} and sent["files"]["file"][0] == "leads.csv"
    assert sent["workspace"] == "main"
    assert f'hx-get="/imports/{JOB}" hx-trigger="every 1s"' in answer.text
    assert '<progress id="import-progress" class="progress" max="2000" value="1234"' in answer.text
    assert "1,234 of 2,000 rows · 61%" in answer.text
    # The inferred columns, and the one no field takes.
    assert "<bdi>טלפון</bdi></td><td><code>phone</code>" in answer.text and "<bdi>הערות</bdi>" in answer.text


def test_the_polled_job_stops_polling_when_done_and_shows_row_errors_by_row_and_column(console, intake):
    intake.on("intake", "GET", f"/v1/imports/{JOB}", job("done", 3, 3, [BAD_PHONE, {"row": 2, "field": None, "message": "empty row"}]))
    client = console(role=Role.MANAGER, language="he")
    part = client.get(f"/imports/{JOB}", headers=HX)
    assert part.status_code == 200
    assert "hx-trigger" not in part.text and "<html" not in part.text
    assert 'role="status">הסתיים' in part.text
    rows = part.text.split('<tr data-row="')[1:]
    assert [r.split('"')[0] for r in rows] == ["2", "3"], "sorted by sheet row"
    assert "<bdi>טלפון</bdi>" in rows[1] and "מספר הטלפון אינו תקין" in rows[1]
    assert "(השורה כולה)" in rows[0]
    # Without htmx: the whole page around the same job.
    page = client.get(f"/imports/{JOB}")
    assert "<html" in page.text and 'href="/imports"' in page.text


def test_a_refused_upload_shows_the_error_next_to_its_field(console, intake):
    client = console(role=Role.ADMINISTRATOR)
    intake.refuse("intake", "POST", "/v1/imports", 422, {"type": "about:blank", "errors": [{"field": "channel_id", "message": "several"}]})
    answer = client.post("/imports", files={"file": ("a.csv", b"x", "text/csv")}, data={"policy": "reset_status"}, headers=HX)
    assert answer.status_code == 422
    assert 'id="f-channel_id"' in answer.text and 'aria-describedby="e-channel_id"' in answer.text
    assert 'id="e-channel_id"' in answer.text and "import channel" in answer.text
    assert 'value="reset_status" checked' in answer.text, "the chosen policy is kept"

    intake.refuse("intake", "POST", "/v1/imports", 415, {"type": "about:blank", "errors": [{"field": "file", "message": "unsupported"}]})
    answer = client.post("/imports", files={"file": ("a.pdf", b"%PDF", "application/pdf")}, headers=HX)
    assert answer.status_code == 415 and 'id="e-file"' in answer.text and "Only CSV and XLSX" in answer.text

    no_file = client.post("/imports", data={"policy": "skip"}, headers=HX)
    assert no_file.status_code == 422 and 'id="e-file"' in no_file.text
    assert len(intake.sent("intake", "POST", "/v1/imports")) == 2


A, B = "a0000000-0000-4000-8000-000000000001", "a0000000-0000-4000-8000-000000000002"


def test_several_import_channels_are_offered_and_the_chosen_one_is_sent(console, intake):
    intake.on("intake", "GET", "/v1/imports/channels", {"items": [{"id": A, "name": "Excel A"}, {"id": B, "name": "Excel B"}]})
    intake.on("intake", "POST", "/v1/imports", {"id": JOB, "status_url": f"/v1/imports/{JOB}"})
    intake.on("intake", "GET", f"/v1/imports/{JOB}", job())
    client = console(role=Role.MANAGER)
    page = client.get("/imports")
    assert f'<option value="{A}">Excel A</option>' in page.text and "Excel B" in page.text
    answer = client.post("/imports", files={"file": ("a.csv", b"x", "text/csv")}, data={"channel_id": B}, headers=HX)
    assert answer.status_code == 201
    assert intake.sent("intake", "POST", "/v1/imports")[0]["data"] == {"policy": "skip", "channel_id": B}
    assert f'<option value="{B}" selected>' in answer.text


def test_an_older_intake_without_the_import_channels_falls_back_to_the_channels_section(console, intake):
    channels = [
        {"id": A, "kind": "import", "name": "Excel A", "active": True},
        {"id": B, "kind": "import", "name": "Excel B", "active": True},
        {"id": "a0000000-0000-4000-8000-000000000003", "kind": "web", "name": "Site", "active": True},
    ]
    intake.on("intake", "GET", "/v1/channels", {"items": channels, "next_cursor": None})
    page = console(role=Role.ADMINISTRATOR).get("/imports")
    assert "Excel A" in page.text and "Excel B" in page.text and "Site" not in page.text
    # A manager (no channels section) is not offered a choice: intake takes the only import channel.
    assert "Excel A" not in console(role=Role.MANAGER).get("/imports").text


def test_roles_without_the_section_are_refused_and_without_create_get_no_form(console, intake):
    refused = console(role=Role.SALES_REP).get("/imports")
    assert refused.status_code == 403 and "sections.imports" in refused.text
    looker = default_roles()[Role.READ_ONLY].model_copy(update={"sections": frozenset({"customers", "imports"})})
    page = console(role=Role.READ_ONLY, permissions=looker).get("/imports")
    assert page.status_code == 200 and 'type="file"' not in page.text and "actions.create" in page.text
    assert console(role=Role.READ_ONLY, permissions=looker).post("/imports", data={}, headers=HX).status_code == 403


def test_row_error_columns_and_progress_numbers():
    assert column_of("phones[0]", COLUMNS) == "טלפון"
    assert column_of("emails[1]", COLUMNS) == "דוא״ל"
    assert column_of("last_name", COLUMNS) == "שם משפחה"
    assert column_of("fields.colour", {"צבע": "fields.colour"}) == "צבע"
    assert column_of("national_id", COLUMNS) is None and column_of(None, COLUMNS) is None
    assert progress(job("running", 1, 3)).percent == 33
    assert progress(job("queued", 0, None)).total is None
    assert progress(job("done", 2, 3)).percent == 100, "a done job is complete (rows skipped by decisions included)"
    [error] = row_errors(job(errors=[BAD_PHONE]))
    assert (error.row, error.column, error.text) == (3, "טלפון", "error.phone")


def test_a_failed_job_says_why_and_stops_polling_and_a_queued_one_polls_with_an_open_bar(console, intake):
    failed = {**job("failed", 0, 5), "reason": "the file cannot be read: bad zip"}
    intake.on("intake", "GET", f"/v1/imports/{JOB}", failed)
    client = console(role=Role.MANAGER, language="he")
    part = client.get(f"/imports/{JOB}", headers=HX)
    assert "hx-trigger" not in part.text and 'role="status">נכשל' in part.text
    assert '<dd lang="en" dir="ltr">the file cannot be read: bad zip</dd>' in part.text
    intake.on("intake", "GET", f"/v1/imports/{JOB}", job("queued", 0, None))
    part = client.get(f"/imports/{JOB}", headers=HX)
    assert 'hx-trigger="every 1s"' in part.text and "ממתין להתחלה" in part.text
    assert '<progress id="import-progress" class="progress" aria-describedby="import-progress-text"></progress>' in part.text
    assert "0 שורות עד כה" in part.text
