"""Time-zone names as people and Outlook write them, resolved to IANA zones.

Outlook and Graph speak Windows zone names ("W. Europe Standard Time"); users and
browsers speak IANA names ("Europe/Berlin"). Both resolve to a `ZoneInfo` here,
through the CLDR mapping that `tzlocal.windows_tz` ships, never a hand-kept table.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

from scheduling_core.errors import UnknownTimeZone

UTC = ZoneInfo("UTC")


@lru_cache(maxsize=512)
def _lookup(name: str) -> ZoneInfo | None:
    iana = win_tz.get(name, name)
    if not iana or "\x00" in iana or iana.startswith(("/", ".")) or ".." in iana:
        return None
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def resolve_time_zone(name: str, field: str = "timeZone") -> ZoneInfo:
    """The zone a Windows or IANA name denotes; `UnknownTimeZone` otherwise."""
    zone = _lookup(name.strip()) if name else None
    if zone is None:
        raise UnknownTimeZone(name, field)
    return zone


def iana_name(name: str, field: str = "timeZone") -> str:
    """The IANA key for a Windows or IANA name (what we store and echo back)."""
    return resolve_time_zone(name, field).key
