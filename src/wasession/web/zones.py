"""Which time zone the dashboard shows times in: each channel's own zone (the default), or one zone
the agent chose (their browser's), kept in a cookie so the choice needs no schema and follows the
browser the agent actually sits at.

Every rendered time names its zone: the abbreviation when tzdata has a real one ("18:00 WET"), else
the zone's name ("18:00 America/Sao_Paulo"), since "-03" says less than the place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from wasession.services.channels import Channel

COOKIE = "wasession_tz"
CHANNEL = "channel"  # the cookie's value for "each channel's own zone"
_ZONES = frozenset(available_timezones())


def chosen_zone(cookie: str | None) -> ZoneInfo | None:
    """The zone an agent chose, or None for "each channel's own"; unknown values count as none."""
    if not cookie or cookie == CHANNEL or cookie not in _ZONES:
        return None
    try:
        return ZoneInfo(cookie)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def valid_choice(value: str) -> bool:
    return value == CHANNEL or value in _ZONES


def resolver(channels: Iterable[Channel], chosen: ZoneInfo | None) -> Callable[[int | None], tzinfo]:
    """channel id -> the zone to show that channel's times in; None (no channel) -> the chosen zone or UTC."""
    zones: dict[int, tzinfo] = {}
    for channel in channels:
        try:
            zones[channel.id] = ZoneInfo(channel.policy.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zones[channel.id] = UTC

    def zone(channel_id: int | None) -> tzinfo:
        if chosen is not None:
            return chosen
        return zones.get(channel_id, UTC) if channel_id is not None else UTC

    return zone


def label(value: datetime, zone: tzinfo) -> str:
    """The zone's name as shown after a time."""
    abbreviation = value.astimezone(zone).tzname() or ""
    if abbreviation and abbreviation[0] not in "+-":
        return abbreviation
    return str(getattr(zone, "key", abbreviation or "UTC"))
