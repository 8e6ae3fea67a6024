"""The scale tests' fixtures, shared by every tier (tests/support/scale.py)."""

from tests.support.scale import deployment, fake_cloud, pg_url  # noqa: F401
