"""Webhook ingest: which changes of a body are authentic, the raw log, and applying them."""

from wasession.ingest.credentials import CredentialCache, SignatureRejected, Verdict
from wasession.ingest.group_commit import GroupCommit
from wasession.ingest.ingestor import Ingestor
from wasession.ingest.raw_log import logged_bodies, prune_webhook_log, reprocess_logged
from wasession.ingest.result import IngestResult
from wasession.store.webhook_log import LoggedBody

__all__ = [
    "CredentialCache",
    "GroupCommit",
    "IngestResult",
    "Ingestor",
    "LoggedBody",
    "SignatureRejected",
    "Verdict",
    "logged_bodies",
    "prune_webhook_log",
    "reprocess_logged",
]
