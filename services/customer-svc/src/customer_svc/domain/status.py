"""The status machine of a card (DESIGN 4.2): manual moves people ask for, automatic moves facts cause."""

STATUSES = ("new", "follow_up", "follow_up_meeting", "customer", "customer_club", "not_interested", "frozen", "fictitious")

LABELS_HE = {
    "new": "חדש",
    "follow_up": "מעקב",
    "follow_up_meeting": "מעקב + פגישה / הצעת מחיר",
    "customer": "לקוח אמיתי",
    "customer_club": "לקוח אמיתי + מועדון / חוזה",
    "not_interested": "הלקוח אינו מעוניין",
    "frozen": "לקוח מוקפא",
    "fictitious": "לקוח פיקטיבי",
}

# The forward path automatic facts push a card along; the other statuses are set by people.
RANK = {"new": 0, "follow_up": 1, "follow_up_meeting": 2, "customer": 3, "customer_club": 4}

_SALES = ("customer", "customer_club")
_NO_ANSWER = ("no_answer", "busy", "voicemail")
_MEETING_ON = (None, "scheduled", "held")
_TARGET_BY_KIND = {
    "quote": "follow_up_meeting",
    "order": "customer",
    "payment": "customer",
    "contract": "customer_club",
    "club_membership": "customer_club",
}

_MESSAGES = {
    "unknown_status": "Refused by rule unknown_status: the status is not one of " + ", ".join(STATUSES) + ".",
    "unchanged": "Refused by rule unchanged: the card already has this status.",
    "automatic_only": "Refused by rule automatic_only: this status is reached only automatically, from calls, meetings, "
    "quotes, orders and contracts (customer_club manually only when unfreezing a frozen card).",
    "not_interested_needs_call_or_meeting": "Refused by rule not_interested_needs_call_or_meeting: a card becomes "
    "not_interested only after an answered call or a held meeting.",
    "not_interested_not_for_customers": "Refused by rule not_interested_not_for_customers: a customer, club customer "
    "or frozen card cannot become not_interested.",
    "not_interested_not_from_fictitious": "Refused by rule not_interested_not_from_fictitious: a fictitious card must "
    "be reopened as new first.",
    "frozen_only_from_customer_club": "Refused by rule frozen_only_from_customer_club: only a customer_club card can be frozen.",
    "fictitious_only_from_new_or_follow_up": "Refused by rule fictitious_only_from_new_or_follow_up: only a new or "
    "follow_up card can be marked fictitious.",
    "reopen_only_from_not_interested_or_fictitious": "Refused by rule reopen_only_from_not_interested_or_fictitious: "
    "only a not_interested or fictitious card can be reopened as new.",
}


class TransitionRefused(Exception):
    """A refused manual move; `rule` is stable (clients may key on it), `message` is the 409 detail."""

    def __init__(self, rule: str, message: str | None = None) -> None:
        self.rule = rule
        self.message = message or _MESSAGES.get(rule, f"Refused by rule {rule}.")
        super().__init__(self.message)


def _manual_rule(current: str, target: str, conversed: bool) -> str | None:
    """The rule refusing a manual move from `current` to `target`, or None when it is allowed."""
    if target not in STATUSES or current not in STATUSES:
        return "unknown_status"
    if target == current:
        return "unchanged"
    if target == "not_interested":
        if current in ("customer", "customer_club", "frozen"):
            return "not_interested_not_for_customers"
        if current == "fictitious":
            return "not_interested_not_from_fictitious"
        return None if conversed else "not_interested_needs_call_or_meeting"
    if target == "frozen":
        return None if current == "customer_club" else "frozen_only_from_customer_club"
    if target == "fictitious":
        return None if current in ("new", "follow_up") else "fictitious_only_from_new_or_follow_up"
    if target == "new":
        return None if current in ("not_interested", "fictitious") else "reopen_only_from_not_interested_or_fictitious"
    if target == "customer_club" and current == "frozen":
        return None
    return "automatic_only"


def check_manual(current: str, target: str, *, conversed: bool) -> None:
    """Raise TransitionRefused unless a person may move a card from `current` to `target`.

    `conversed`: the card has had an answered call or a held meeting (see `is_conversation`).
    """
    rule = _manual_rule(current, target, conversed)
    if rule is not None:
        raise TransitionRefused(rule)


def allowed_manual(current: str, *, conversed: bool) -> tuple[str, ...]:
    """The statuses a person may move a card from `current` to now, in STATUSES order (what a
    status picker offers); every other target is refused by `check_manual` with its rule."""
    return tuple(target for target in STATUSES if _manual_rule(current, target, conversed) is None)


def automatic_target(kind: str, outcome: str | None) -> str | None:
    """The status an interaction of `kind` with `outcome` points a card to, or None when it points nowhere."""
    if kind == "call":
        return "follow_up" if outcome in _NO_ANSWER else None
    if kind == "meeting":
        return "follow_up_meeting" if outcome in _MEETING_ON else None
    return _TARGET_BY_KIND.get(kind)


def automatic_status(current: str, kind: str, outcome: str | None) -> str | None:
    """The card's new status after the fact, or None when it must not move.

    Only forward along RANK; a sale revives a not_interested card; frozen and fictitious are
    left alone (people put them there and only people take them out).
    """
    if current not in STATUSES:
        raise ValueError(f"unknown status {current!r}")
    target = automatic_target(kind, outcome)
    if target is None:
        return None
    if current == "not_interested":
        return target if target in _SALES else None
    if current in RANK and RANK[target] > RANK[current]:
        return target
    return None


def is_conversation(kind: str, outcome: str | None) -> bool:
    """A call answered or a meeting held: what allows marking a card not_interested."""
    return (kind, outcome) in (("call", "answered"), ("meeting", "held"))
