"""Console accounts: users with argon2 password hashes, server-side sessions in the shared
state store, and the audit log."""

from integrations.accounts.audit import AuditEntry, AuditLog
from integrations.accounts.sessions import ConsoleSession, SessionStore
from integrations.accounts.users import (
    ROLES,
    AccountError,
    User,
    UserStore,
)

__all__ = [
    "ROLES",
    "AccountError",
    "AuditEntry",
    "AuditLog",
    "ConsoleSession",
    "SessionStore",
    "User",
    "UserStore",
]
