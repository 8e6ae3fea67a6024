"""Chatwoot's REST API as wasession calls it (issue 22): one client, errors sorted by what a retry may do."""
