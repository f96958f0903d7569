"""The problems a person's request meets: invalid fields, a card that is gone or merged away."""

from crm_runtime.problems import Problem, invalid_fields
from customer_svc.domain.card import Card
from customer_svc.domain.edits import CardInvalid, FieldProblem


def invalid(problems: list[FieldProblem]) -> Problem:
    """A 422 naming every bad field."""
    return invalid_fields([(p.field, p.message) for p in problems])


def invalid_card(error: CardInvalid) -> Problem:
    return invalid(error.problems)


def live(card: Card | None) -> Card:
    """`card`, or the problem for a card that does not exist or was merged into another."""
    if card is None:
        raise Problem(404, "Customer not found")
    if card.merged_into is not None:
        raise Problem(
            409, "Card was merged", f"This card was merged into {card.merged_into}.", rule="merged", merged_into=str(card.merged_into)
        )
    return card
