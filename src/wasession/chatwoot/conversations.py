"""Which Chatwoot conversation is which contact: the stored map first, else Chatwoot's API (contact search,
then the contact's conversations in the connection's inbox), remembered for next time.

The webhooks teach the map as they come (`contact_inbox.source_id` is the wa_id, or the BSUID of a
contact known only by it); the API is asked only when a webhook lacked it or we speak first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from wasession.chatwoot.client import ChatwootClient
from wasession.store import chatwoot as store
from wasession.store.chatwoot import ChatwootConnection
from wasession.store.db import Database


def conversation_for(
    db: Database, connection: ChatwootConnection, client: ChatwootClient, source_ids: Iterable[str], now: datetime
) -> int | None:
    """The newest conversation of the contact in the connection's inbox, or None when Chatwoot has none."""
    ids = [s for s in source_ids if s]
    with db.read() as conn:
        known = store.conversation_for(conn, connection.id, ids)
    if known is not None:
        return known
    found: dict[int, tuple[str, str | None]] = {}
    for source_id in ids:
        for contact in client.search_contacts(source_id):
            inboxes = contact.get("contact_inboxes") or []
            if not any(_in_inbox(ci, connection.inbox_id, source_id) for ci in inboxes if isinstance(ci, dict)):
                continue
            contact_id = contact.get("id")
            if not isinstance(contact_id, int):
                continue
            for conv in client.contact_conversations(contact_id):
                if conv.get("inbox_id") == connection.inbox_id and isinstance(conv.get("id"), int):
                    status = conv.get("status")
                    found[conv["id"]] = (source_id, status if isinstance(status, str) else None)
    if not found:
        return None
    with db.write() as conn:
        for conversation_id, (source_id, status) in found.items():
            store.remember_conversation(conn, connection.id, conversation_id, source_id, status, now)
    return max(found)


def source_for(
    db: Database, connection: ChatwootConnection, client: ChatwootClient, conversation_id: int, now: datetime
) -> str | None:
    """The contact inbox's source id of a conversation: stored, else read from Chatwoot."""
    with db.read() as conn:
        known = store.source_of(conn, connection.id, conversation_id)
    if known is not None:
        return known
    conv = client.conversation(conversation_id)
    inbox = conv.get("contact_inbox")
    source = inbox.get("source_id") if isinstance(inbox, dict) else None
    if not isinstance(source, str) or not source or conv.get("inbox_id") != connection.inbox_id:
        return None
    source = source.lstrip("+")
    status = conv.get("status")
    with db.write() as conn:
        store.remember_conversation(
            conn, connection.id, conversation_id, source, status if isinstance(status, str) else None, now
        )
    return source


def _in_inbox(contact_inbox: dict[str, object], inbox_id: int, source_id: str) -> bool:
    inbox = contact_inbox.get("inbox")
    found = inbox.get("id") if isinstance(inbox, dict) else contact_inbox.get("inbox_id")
    source = contact_inbox.get("source_id")
    return found == inbox_id and isinstance(source, str) and source.lstrip("+") == source_id
