"""Screen 8, the manager's view: each dimension's counts as a table (the seed's Hebrew status
labels, reps' and channels' names, affiliates) with aria-hidden bars beside it, numbers in the
person's locale; a date range becomes the list's created filters; a count the role may not
make says so while the others stand; roles without `export` are refused."""

import pytest

from crm_contracts.permissions import Role

pytestmark = pytest.mark.unit

DANA, YOSSI = "8ae4ac7a-6d9e-4f18-8471-43665705a49b", "a661f6a0-a2b6-470c-8cb1-1df4c4c11018"
WEB = "c0000000-0000-4000-8000-0000000000aa"

COUNTS = {
    "status": {"by": "status", "items": [{"key": "new", "count": 1200}, {"key": "not_interested", "count": 300}], "total": 1500},
    "owner": {
        "by": "owner",
        "items": [{"key": DANA, "count": 900}, {"key": YOSSI, "count": 500}, {"key": None, "count": 100}],
        "total": 1500,
    },
    "channel": {
        "by": "channel",
        "items": [{"key": WEB, "count": 1000, "kind": "web"}, {"key": "ui", "count": 500, "kind": "ui"}],
        "total": 1500,
    },
    "affiliate": {
        "by": "affiliate",
        "items": [{"key": "S-17", "count": 40, "label": "Acme Affiliates"}, {"key": None, "count": 1460, "label": None}],
        "total": 1500,
    },
}


@pytest.fixture
def api(services):
    services.on("customer", "GET", "/v1/customers/counts", lambda params, _: COUNTS[params["by"]])
    services.on("allocation", "GET", "/v1/reps", {"items": [{"id": DANA, "name": "Dana Amir"}, {"id": YOSSI, "name": "יוסי לוי"}]})
    services.on("intake", "GET", "/v1/channels", {"items": [{"id": WEB, "kind": "web", "name": "Landing page"}]})
    return services


def section(html: str, by: str) -> str:
    return html.split(f'id="report-{by}"')[1].split("</section>")[0]


def test_the_manager_sees_four_tables_in_hebrew_with_seed_labels_and_rep_names(console, api):
    page = console(role=Role.MANAGER, language="he").get("/reports")
    assert page.status_code == 200, page.text
    status = section(page.text, "status")
    assert '<th scope="row"><a href="/search?status=new">חדש</a></th>' in status and "הלקוח אינו מעוניין" in status
    assert '<td class="num">1,200</td>' in status and "80%" in status
    assert '<td class="num">1,500</td>' in status, "the total"
    owner = section(page.text, "owner")
    assert f'<a href="/search?owner_id={DANA}"><bdi>Dana Amir</bdi></a>' in owner and "<bdi>יוסי לוי</bdi>" in owner
    assert '<a href="/search?owner_id=none">ללא נציג</a>' in owner
    # A manager may not read the channels (no section): channels by their kind, made-by-hand by its own text.
    channel = section(page.text, "channel")
    assert "טופס אינטרנט" in channel and "נוצר ידנית" in channel and "Landing page" not in channel
    assert not api.sent("intake", "GET", "/v1/channels")
    affiliate = section(page.text, "affiliate")
    assert "<bdi>Acme Affiliates (S-17)</bdi>" in affiliate and "ללא משווק" in affiliate
    # The chart is decoration beside the table: hidden from assistive technology, bars sized by the largest group.
    assert (
        'class="report-chart" aria-hidden="true"' in status
        and 'style="inline-size: 100%"' in status
        and 'style="inline-size: 25%"' in status
    )


def test_in_english_an_administrator_sees_channel_names(console, api):
    page = console(role=Role.ADMINISTRATOR, language="en").get("/reports")
    assert page.status_code == 200
    assert '<a href="/search?status=new">New</a>' in section(page.text, "status") and "Not interested" in page.text
    assert "<bdi>Landing page</bdi>" in section(page.text, "channel") and "Created by hand" in page.text
    assert "By affiliate" in page.text and "No owner" in page.text


def test_a_date_range_is_sent_as_the_lists_created_filters_in_the_persons_zone(console, api):
    page = console(role=Role.MANAGER).get("/reports?from=2026-12-01&to=2026-12-07")
    assert "/search?status=new&amp;created_from=2026-12-01&amp;created_to=2026-12-07" in page.text, "the same range on the search screen"
    assert 'value="2026-12-01"' in page.text and 'value="2026-12-07"' in page.text
    sent = api.sent("customer", "GET", "/v1/customers/counts")
    assert sorted(c["params"]["by"] for c in sent) == ["affiliate", "channel", "owner", "status"]
    assert {c["params"]["created_from"] for c in sent} == {"2026-12-01T00:00:00+02:00"}
    assert {c["params"]["created_to"] for c in sent} == {"2026-12-08T00:00:00+02:00"}
    console(role=Role.MANAGER).get("/reports?from=not-a-date")
    assert "created_from" not in api.sent("customer", "GET", "/v1/customers/counts")[-1]["params"]


def test_a_refused_count_says_so_and_the_others_stand(console, api):
    from crm_console.adapters.services import problem_of

    def answer(params, _):
        if params["by"] == "affiliate":
            raise problem_of(403, {"type": "about:blank", "title": "Forbidden", "permission": "fields.broker"})
        return COUNTS[params["by"]]

    api.on("customer", "GET", "/v1/customers/counts", answer)
    page = console(role=Role.MANAGER).get("/reports")
    assert page.status_code == 200
    assert "fields.broker" in section(page.text, "affiliate") and "<table" not in section(page.text, "affiliate")
    assert "<table" in section(page.text, "status")


def test_empty_counts_have_their_calm_state_and_a_rep_is_refused(console, api):
    api.on("customer", "GET", "/v1/customers/counts", lambda params, _: {"by": params["by"], "items": [], "total": 0})
    page = console(role=Role.MANAGER).get("/reports")
    assert page.text.count("No cards to count.") == 4
    refused = console(role=Role.SALES_REP).get("/reports")
    assert refused.status_code == 403 and "actions.export" in refused.text
    assert 'href="/reports"' not in console(role=Role.SALES_REP).get("/imports").text
