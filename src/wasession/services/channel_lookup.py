"""A channel named the way an operator names it: by id, by `phone_number_id`, or by name."""

from __future__ import annotations

from difflib import get_close_matches

from wasession.lifecycle.context import ServiceContext
from wasession.services.errors import NotFoundError, ValidationError
from wasession.store import channels as channel_store
from wasession.store.channels import Channel


class ChannelNotFound(NotFoundError):
    def __init__(self, ref: str, near: Channel | None = None) -> None:
        super().__init__("channel", ref)
        hint = f"; did you mean {near.id} {near.name!r}?" if near else ""
        self.message = f"channel {ref} not found (no channel has that id, name or phone_number_id){hint}"
        self.args = (self.message,)


def _nearest(text: str, rows: list[Channel]) -> Channel | None:
    by_name = {c.name.casefold(): c for c in rows}
    close = get_close_matches(text.casefold(), list(by_name), n=1, cutoff=0.6)
    if close:
        return by_name[close[0]]
    return rows[0] if len(rows) == 1 else None  # the one channel there is: what else could be meant


def resolve_channel(ctx: ServiceContext, ref: str, *, workspace_id: int | None = None) -> Channel:
    """The one channel `ref` names. An id wins over a phone_number_id (ids are small, Meta's
    phone number ids are 15 digits or more); a name is matched whole, ignoring case, and must name
    one channel only: an ambiguous name is refused with the matches so the operator can pick an id."""
    text = ref.strip()
    if not text:
        raise ValidationError("channel", "give a channel id, name or phone_number_id", code="required")
    with ctx.db.read() as conn:
        rows = channel_store.list_all(conn, workspace_id)
    if text.isdigit():
        for field in ("id", "phone_number_id"):
            found = [c for c in rows if str(getattr(c, field)) == text]
            if found:
                return found[0]
    named = [c for c in rows if c.name.casefold() == text.casefold()]
    if len(named) == 1:
        return named[0]
    if named:
        listed = ", ".join(f"{c.id} (phone_number_id {c.phone_number_id})" for c in named)
        raise ValidationError(
            "channel", f"{text!r} names {len(named)} channels: {listed}; give the id instead", code="ambiguous"
        )
    raise ChannelNotFound(text, _nearest(text, rows))
