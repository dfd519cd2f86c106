"""Field validators shared by the documents and request bodies at the boundary (pydantic `field_validator`s
over plain functions: `_zone = field_validator("timeZone")(zone_name)`)."""

from __future__ import annotations

from scheduling_core.domain.timezones import iana_name
from scheduling_core.domain.values import EMAIL_SHAPE
from scheduling_core.errors import UnknownTimeZone


def email_address(value: str) -> str:
    """An email address field: refused unless it has an address's shape (`EMAIL_SHAPE`)."""
    if not EMAIL_SHAPE.match(value):
        raise ValueError("must be an email address")
    return value


def zone_name(value: str) -> str:
    """A time zone field: the IANA name of the zone it names (IANA or Windows), refused if unknown."""
    try:
        return iana_name(value)
    except UnknownTimeZone as exc:
        raise ValueError(exc.detail) from None
