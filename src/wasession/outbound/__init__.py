"""Calls this server makes to addresses a tenant chose: which addresses are allowed, and a guarded HTTP POST."""
