"""Console accounts: users with argon2 password hashes (checked off the event loop), the
password policy, server-side sessions in the shared state store, each account's state for
per-request session checks, account management, and the audit log."""

from integrations.accounts.admin import AccountAdmin
from integrations.accounts.audit import AuditEntry, AuditLog
from integrations.accounts.errors import AccountError
from integrations.accounts.hashing import HashingBusy, PasswordHashing
from integrations.accounts.policy import check_password, password_problem
from integrations.accounts.sessions import ConsoleSession, SessionStore
from integrations.accounts.status import AccountState, AccountStates
from integrations.accounts.users import (
    ROLES,
    LoginCheck,
    LoginOutcome,
    User,
    UserStore,
)

__all__ = [
    "ROLES",
    "AccountAdmin",
    "AccountError",
    "AccountState",
    "AccountStates",
    "AuditEntry",
    "AuditLog",
    "ConsoleSession",
    "HashingBusy",
    "LoginCheck",
    "LoginOutcome",
    "PasswordHashing",
    "SessionStore",
    "User",
    "UserStore",
    "check_password",
    "password_problem",
]
