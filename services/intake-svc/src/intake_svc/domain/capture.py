"""Turning what a channel sent into a lead, and the stamps of DESIGN 4.3."""

from collections.abc import Mapping, Sequence

from crm_contracts.leads import NO_NAME_FROM_WEB, ChannelKind, Lead

# Field names a web form may use without any mapping (DESIGN 5.2), to the lead field.
LIST_FIELDS = {
    "phone": "phones",
    "phone2": "phones",
    "mobile": "phones",
    "phones": "phones",
    "email": "emails",
    "emails": "emails",
    "tags": "tags",
}
_SCALAR_FIELDS = {
    "first_name",
    "last_name",
    "company_name",
    "national_id",
    "id_type",
    "branch",
    "external_id",
    "notes",
}
_ALIASES = {"id": "national_id"}
_AFFILIATE = {
    "affiliate_name": "name",
    "affiliate_account_number": "account_number",
    "broker_name": "name",
    "broker_account_number": "account_number",
}


class LeadRejected(Exception):
    """The submission cannot become a lead; `errors` names every culprit as (field, message),
    `field` and `message` are the first one's."""

    def __init__(self, field: str, message: str, *more: tuple[str, str]) -> None:
        self.errors: list[tuple[str, str]] = [(field, message), *more]
        super().__init__("; ".join(f"{f}: {m}" for f, m in self.errors))
        self.field = field
        self.message = message

    @classmethod
    def of(cls, errors: Sequence[tuple[str, str]]) -> "LeadRejected":
        (field, message), *more = errors
        return cls(field, message, *more)


def lead_from_form(form: Mapping[str, str], mapping: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """Map flat form fields to a lead body; fields nobody knows come back as `raw`.

    `mapping` renames the channel's own field names: `{"tel": "phone", "src": "fields.source"}`;
    a target `fields.X` lands in the custom fields.
    """
    body: dict[str, object] = {}
    lists: dict[str, list[str]] = {}
    custom: dict[str, str] = {}
    affiliate: dict[str, str] = {}
    raw: dict[str, str] = {}
    for name, value in form.items():
        value = value.strip()
        if not value:
            continue
        target = mapping.get(name, _ALIASES.get(name, name))
        if target.startswith("fields."):
            custom[target.removeprefix("fields.")] = value
        elif target == "name":
            first, _, last = value.partition(" ")
            last = last.strip()
            body.setdefault("first_name", first if last else None)
            body.setdefault("last_name", last or first)
        elif target in LIST_FIELDS:
            lists.setdefault(LIST_FIELDS[target], []).extend(v.strip() for v in value.split(",") if v.strip())
        elif target in _AFFILIATE:
            affiliate[_AFFILIATE[target]] = value
        elif target in _SCALAR_FIELDS:
            body[target] = value
        else:
            raw[name] = value
    body.update(lists)
    if custom:
        body["fields"] = custom
    if affiliate:
        body["affiliate"] = affiliate
    return body, raw


def stamp(lead: Lead, kind: ChannelKind) -> Lead:
    """Apply the external-source stamps: a web lead needs a phone or an e-mail, and a name."""
    if kind in (ChannelKind.WEB, ChannelKind.PORTAL):
        if not lead.phones and not lead.emails:
            raise LeadRejected("phones", "a phone or an e-mail is required")
    if kind in (ChannelKind.WEB, ChannelKind.PORTAL, ChannelKind.API) and not (lead.last_name or lead.company_name):
        lead = lead.model_copy(update={"last_name": NO_NAME_FROM_WEB})
    return lead


def partition_key(lead: Lead, fallback: str) -> str:
    """A stable Kafka key from the lead's identifiers, so one person's leads stay in order."""
    if lead.emails:
        return "e:" + lead.emails[0].strip().lower()
    if lead.phones:
        digits = "".join(ch for ch in lead.phones[0] if ch.isdigit())
        return "p:" + digits[-9:]
    if lead.national_id:
        return "i:" + lead.national_id.strip().lstrip("0")
    return "s:" + fallback
