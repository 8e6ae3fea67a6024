"""The service functions behind the operator's commands, on SQLite and PostgreSQL: the wa_id filters,
the channel resolver, and users with roles, deleted and given new passwords."""

from __future__ import annotations

import pytest

from wasession.services import channels as channel_service
from wasession.services import contacts as contact_service
from wasession.services import queries as query_service
from wasession.services import users as user_service
from wasession.services import workspaces as workspace_service
from wasession.services.channel_lookup import resolve_channel
from wasession.services.errors import NotFoundError, ValidationError
from wasession.testing import Simulator

PASSWORD = "correct horse battery"


def test_sessions_and_contacts_filter_by_wa_id_inside_the_workspace(any_sim: Simulator) -> None:
    ctx = any_sim.runtime.ctx
    ch = any_sim.add_channel()
    any_sim.customer_message(ch, wa_id="15550001111", name="Ana Silva", text="hi")
    any_sim.customer_message(ch, wa_id="15550002222", name="Bo Chen", text="hi")
    ws = channel_service.default_workspace(ctx)
    page = query_service.list_sessions(ctx, workspace_id=ws, wa_id="+1 555 000 1111")
    assert [s.contact_wa_id for s in page.items] == ["15550001111"]
    contacts, _ = contact_service.list_contacts(ctx, workspace_id=ws, wa_id="15550002222")
    assert [c.wa_id for c in contacts] == ["15550002222"]
    other = workspace_service.create_workspace(ctx, "other").id
    assert query_service.list_sessions(ctx, workspace_id=other, wa_id="15550001111").items == []
    assert contact_service.list_contacts(ctx, workspace_id=other, wa_id="15550001111")[0] == []
    with pytest.raises(ValidationError) as caught:
        query_service.list_sessions(ctx, workspace_id=ws, wa_id="ana")
    assert caught.value.field == "wa_id"


def test_the_resolver_takes_an_id_a_phone_number_id_or_a_name(any_sim: Simulator) -> None:
    ctx = any_sim.runtime.ctx
    a = any_sim.add_channel(name="Support")
    b = any_sim.add_channel(name="Sales")
    assert resolve_channel(ctx, str(b.id)).id == b.id
    assert resolve_channel(ctx, a.phone_number_id).id == a.id
    assert resolve_channel(ctx, " sales ").id == b.id
    other = workspace_service.create_workspace(ctx, "other").id
    with pytest.raises(NotFoundError):
        resolve_channel(ctx, "Support", workspace_id=other)
    any_sim.add_channel(name="support")
    with pytest.raises(ValidationError) as caught:
        resolve_channel(ctx, "Support")
    assert caught.value.code == "ambiguous" and f"{a.id} (phone_number_id {a.phone_number_id})" in caught.value.message


def test_users_carry_a_role_and_a_reset_or_delete_ends_their_logins(any_sim: Simulator) -> None:
    ctx = any_sim.runtime.ctx
    user_service.create_user(ctx, "ana", PASSWORD, role="agent")
    assert not user_service.has_admin(ctx)
    user_service.create_user(ctx, "boss", PASSWORD)
    assert user_service.has_admin(ctx)
    assert [(u.username, user_service.role_of(u)) for u in user_service.list_users(ctx)] == [
        ("ana", "agent"),
        ("boss", "admin"),
    ]
    with pytest.raises(ValidationError) as bad_role:
        user_service.create_user(ctx, "x", PASSWORD, role="owner")
    assert bad_role.value.field == "role"
    login = user_service.authenticate(ctx, "ana", PASSWORD)
    assert login is not None and login.session.is_admin is False
    with pytest.raises(ValidationError):
        user_service.reset_password(ctx, "ana", "short")
    assert user_service.session_for_token(ctx, login.token) is not None, "a refused reset changes nothing"
    user_service.reset_password(ctx, "ana", "another long password")
    assert user_service.session_for_token(ctx, login.token) is None
    again = user_service.authenticate(ctx, "ana", "another long password")
    assert again is not None
    user_service.delete_user(ctx, "ana")
    assert user_service.session_for_token(ctx, again.token) is None
    assert [u.username for u in user_service.list_users(ctx)] == ["boss"]
    with pytest.raises(NotFoundError):
        user_service.delete_user(ctx, "ana")
