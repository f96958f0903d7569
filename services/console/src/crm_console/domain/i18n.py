"""The console's two languages: Hebrew (right to left, the default) and English.

Texts live in `crm_console.domain.messages`, one module per screen, each a `MESSAGES` dict of
key -> (English, Hebrew); `Catalog` merges them and refuses a key defined twice. A missing key
renders as the key itself (and the unit test of the catalogs fails on any key a template uses
that no module defines). Dates and numbers are formatted by Babel in the person's locale and
the workspace's time zone.
"""

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal

LANGUAGES = ("he", "en")
LOCALES = {"he": "he_IL", "en": "en_GB"}
DIRECTIONS = {"he": "rtl", "en": "ltr"}


def language_or_default(value: str | None, default: str = "he") -> str:
    return value if value in LANGUAGES else default


def load_messages() -> dict[str, tuple[str, str]]:
    from crm_console.domain import messages

    merged: dict[str, tuple[str, str]] = {}
    for info in sorted(pkgutil.iter_modules(messages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{messages.__name__}.{info.name}")
        for key, texts in getattr(module, "MESSAGES", {}).items():
            if key in merged:
                raise ValueError(f"message {key!r} is defined twice (again in {info.name})")
            merged[key] = texts
    return merged


@dataclass(frozen=True)
class Translator:
    """The texts and formats of one language; templates call `t(key)`, `t.dt`, `t.d`, `t.tm`, `t.num`."""

    language: str
    messages: Mapping[str, tuple[str, str]]
    zone: ZoneInfo

    @property
    def locale(self) -> str:
        return LOCALES[self.language]

    @property
    def direction(self) -> str:
        return DIRECTIONS[self.language]

    def __call__(self, key: str, **values: Any) -> str:
        texts = self.messages.get(key)
        if texts is None:
            return key
        text = texts[0] if self.language == "en" else texts[1]
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self.messages

    def dt(self, value: datetime | str | None, format: str = "short") -> str:
        moment = _as_datetime(value)
        if moment is None:
            return ""
        return format_datetime(moment, format=format, tzinfo=self.zone, locale=self.locale)

    def d(self, value: date | datetime | str | None, format: str = "medium") -> str:
        if isinstance(value, str):
            value = _as_datetime(value) or _as_date(value)
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        return format_date(value, format=format, locale=self.locale)

    def tm(self, value: datetime | str | None) -> str:
        moment = _as_datetime(value)
        return "" if moment is None else format_time(moment, format="short", tzinfo=self.zone, locale=self.locale)

    def num(self, value: int | float | Decimal | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _as_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class Catalog:
    def __init__(self, zone: str = "Asia/Jerusalem") -> None:
        self.messages = load_messages()
        self._zone = ZoneInfo(zone)

    def translator(self, language: str) -> Translator:
        return Translator(language_or_default(language), self.messages, self._zone)
