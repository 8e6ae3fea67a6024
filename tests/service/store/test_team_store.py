"""A team's inbox on SQLite and PostgreSQL (issue 23): assignments, the Mine and Unassigned filters
(a subquery on each dialect), notes in order, canned names unique per workspace, and a deleted
user's chats left unassigned."""

from __future__ import annotations

import pytest

from wasession.services import canned_replies as canned_service
from wasession.services import queries as query_service
from wasession.services import team as team_service
from wasession.services import users as user_service
from wasession.services import workspaces as workspace_service
from wasession.services.errors import ConflictError
from wasession.testing import Simulator


def test_assignments_notes_and_canned_replies(migrated_database_url: str) -> None:
    with Simulator(database_url=migrated_database_url) as sim:
        ctx = sim.runtime.ctx
        ch = sim.add_channel()
        ws = ch.workspace_id
        user_service.create_user(ctx, "maria", "long enough 1", role="agent")
        for wa_id, name in (("15550001111", "Ana"), ("15550002222", "Ben"), ("15550003333", "Cleo")):
            sim.customer_message(ch, wa_id=wa_id, name=name)
        ana, ben = sim.session(ch, wa_id="15550001111").id, sim.session(ch, wa_id="15550002222").id
        team_service.assign(ctx, ana, "maria", workspace_id=ws, by="admin")
        team_service.assign(ctx, ben, "maria", workspace_id=ws, by="admin")
        names = lambda **f: sorted(s.contact_name for s in query_service.list_sessions(ctx, workspace_id=ws, **f).items)  # noqa: E731
        assert names(assignee="maria") == ["Ana", "Ben"]
        assert names(unassigned=True) == ["Cleo"]
        assert query_service.list_sessions(ctx, workspace_id=ws, unassigned=False).total == 2

        team_service.add_note(ctx, ana, "first", workspace_id=ws, author="admin")
        team_service.add_note(ctx, ana, "second", workspace_id=ws, author="maria")
        assert [(n.author, n.text) for n in team_service.notes(ctx, ana, workspace_id=ws)] == [
            ("admin", "first"),
            ("maria", "second"),
        ]

        canned_service.create(ctx, "/thanks", "Thanks", workspace_id=ws)
        with pytest.raises(ConflictError):
            canned_service.create(ctx, "/thanks", "Again", workspace_id=ws)
        other = workspace_service.create_workspace(ctx, "other").id
        assert canned_service.create(ctx, "/thanks", "Other", workspace_id=other).workspace_id == other

        user_service.delete_user(ctx, "maria")  # their chats are nobody's now
        assert names(unassigned=True) == ["Ana", "Ben", "Cleo"]
        assert team_service.assignee(ctx, ana, workspace_id=ws) is None
