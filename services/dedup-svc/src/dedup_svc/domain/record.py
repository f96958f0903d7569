"""A person or company in the one normalised form that blocking and scoring work on.

Every field is already normalised (see `normalise`): names are lower-case tokens without
niqqud, final letters or punctuation; phones are E.164; e-mails are trimmed and lower-cased;
the national ID / company number is 9 digits; the birth date is `YYYYMMDD`.
Empty string / empty tuple means "not known", never "known to be empty".
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Record:
    given_name: str = ""
    surname: str = ""
    company: str = ""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    national_id: str = ""
    birth_date: str = ""
    street: str = ""
    city: str = ""
    postcode: str = ""

    @property
    def full_name(self) -> str:
        return " ".join(t for t in (self.given_name, self.surname) if t)
