"""intake's own edge over the real app: channel list shape, limits that match the columns,
text the runtime's edge does not see (multipart capture fields), NUL in keys and headers."""

import pytest

from crm_contracts.text import UNSTORABLE_MESSAGE

from .conftest import Intake

pytestmark = pytest.mark.integration


async def test_channels_are_listed_as_a_page(intake: Intake) -> None:
    key = await intake.channel("web")
    page = (await intake.http.get("/v1/channels")).json()
    assert set(page) == {"items", "next_cursor"} and page["next_cursor"] is None
    assert str(intake.ids[key]) in {c["id"] for c in page["items"]}


async def test_a_redirect_url_longer_than_its_column_is_a_422_naming_it(intake: Intake) -> None:
    base = "https://example.com/thanks?"
    for length, status in ((2001, 422), (2000, 201)):
        url = base + "x" * (length - len(base))
        body = {"kind": "web", "name": "w", "redirect_url": url}
        answer = await intake.http.post("/v1/channels", json=body)
        assert answer.status_code == status, answer.text
        if status == 422:
            assert [e["field"] for e in answer.json()["errors"]] == ["redirect_url"]
        else:
            assert answer.json()["redirect_url"] == url
            channel_id = answer.json()["id"]
    # The limit holds for the URL as stored: an IDN host is stored longer (punycode) than sent.
    idn = "https://דוגמה.example/?" + "x" * (2000 - len("https://דוגמה.example/?"))
    answer = await intake.http.post("/v1/channels", json={"kind": "web", "name": "w", "redirect_url": idn})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "redirect_url", answer.text
    # Sent within the limit, stored beyond it: percent-encoding triples a space.
    spaced = "https://example.com/?" + "a b" * 600
    answer = await intake.http.post("/v1/channels", json={"kind": "web", "name": "w", "redirect_url": spaced})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "redirect_url", answer.text
    patched = await intake.http.patch(f"/v1/channels/{channel_id}", json={"redirect_url": spaced})
    assert patched.status_code == 422 and patched.json()["errors"][0]["field"] == "redirect_url", patched.text


async def test_every_bad_field_of_a_lead_is_reported(intake: Intake) -> None:
    key = await intake.channel("api")
    answer = await intake.http.post(
        "/v1/leads", json={"last_name": "x", "phones": ["abc", "0501234567", "1"], "emails": ["nope"]}, headers={"X-Channel-Key": key}
    )
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["phones[0]", "phones[2]", "emails[0]"]


async def test_multipart_capture_fields_follow_the_text_rule(intake: Intake) -> None:
    key = await intake.channel("web", mapping={"tel": "phone", "src": "fields.source"})
    parts = [("tel", b"0501234567"), ("src", b"goo\x00gle"), ("note\x00s", b"x"), ("city", b"\xed\xa0\x80")]
    body = b"".join(b'--B\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (n.encode(), v) for n, v in parts) + b"--B--\r\n"
    answer = await intake.http.post(f"/v1/capture/{key}", content=body, headers={"content-type": "multipart/form-data; boundary=B"})
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["src", "note\\u0000s"]
    assert all(e["message"] == UNSTORABLE_MESSAGE for e in answer.json()["errors"])
    assert await intake.scalar("SELECT count(*) FROM submissions") == 0


async def test_nul_in_channel_keys_and_headers_is_never_a_500(intake: Intake) -> None:
    api = await intake.channel("api")
    lead = {"last_name": "x", "emails": ["a@example.com"]}
    answers = [
        await intake.http.post("/v1/leads", json=lead, headers={"X-Channel-Key": "dev\x00key"}),
        await intake.http.post("/v1/leads", json=lead, headers={"X-Channel-Key": api, "Idempotency-Key": "k\x00"}),
        await intake.http.get("/v1/capture/a%00b", params={"email": "a@example.com"}),
        await intake.http.get("/v1/channels/a%00b"),
        await intake.http.get("/v1/channels", headers={"X-Workspace": "ma\x00in"}),
    ]
    assert [a.status_code for a in answers] == [422, 422, 422, 422, 422], [a.text for a in answers]
    assert answers[0].json()["errors"][0]["field"] == "X-Channel-Key"
    assert answers[1].json()["errors"][0]["field"] == "Idempotency-Key"
    assert answers[4].json()["errors"][0]["field"] == "X-Workspace"


@pytest.mark.parametrize("path", ["/v1/imports", "/v1/capture/{key}"])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not a multipart body", "multipart/form-data; boundary=B"),  # Starlette: "Invalid multipart data."
        (b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--\r\n", "multipart/form-data; boundary=B"),  # a part without a name
        (b"--B\r\nno headers at all", "multipart/form-data"),  # no boundary
    ],
    ids=["invalid-multipart-data", "nameless-part", "no-boundary"],
)
async def test_malformed_multipart_is_a_documented_400_bad_request_problem(
    intake: Intake, path: str, body: bytes, content_type: str
) -> None:
    key = await intake.channel("import" if path == "/v1/imports" else "web")
    url = path.format(key=key)
    answer = await intake.http.post(url, content=body, headers={"content-type": content_type, "X-Channel-Key": key})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "tag:crm-core,2026:problems/bad-request" and problem["status"] == 400, problem
    documented = intake.app.openapi()["paths"][path.replace("{key}", "{channel_key}")]["post"]["responses"]
    assert documented["400"]["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert await intake.scalar("SELECT count(*) FROM submissions") == 0
