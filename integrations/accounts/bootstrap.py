"""Account commands that run outside the web app (``intake user …``) and the demo admin
the development run command creates on a fresh machine."""

from __future__ import annotations

from typing import Literal

from integrations.accounts.admin import AccountAdmin
from integrations.accounts.audit import AuditLog
from integrations.accounts.status import AccountStates
from integrations.accounts.users import AccountError, User, UserStore, generate_password
from integrations.db import create_engine
from integrations.db.migrate import upgrade_database
from integrations.state import create_store

__all__ = [
    "CLI_ACTOR",
    "DEMO_ADMIN",
    "add_user",
    "ensure_demo_admin",
    "list_users",
    "manage_user",
]

DEMO_ADMIN = "admin"
#: the audit log's actor for changes made with ``intake user``
CLI_ACTOR = "命令行"
Action = Literal["disable", "enable", "role", "reset"]


async def add_user(
    database_url: str, username: str, *, role: str, password: str | None, display_name: str | None
) -> tuple[User, str]:
    """Create an account (migrating first); returns it and its password."""
    upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        password = password or generate_password()
        user = await UserStore(engine).create(
            username, password, role=role, display_name=display_name
        )
        return user, password
    finally:
        await engine.dispose()


async def ensure_demo_admin(database_url: str) -> str | None:
    """When no account exists yet, create the ``admin`` account and return its password
    (shown once); otherwise ``None``."""
    upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        users = UserStore(engine)
        if await users.count():
            return None
        password = generate_password()
        try:
            await users.create(DEMO_ADMIN, password, role="admin", display_name="演示管理员")
        except AccountError:
            return None  # another process starting at the same moment created it
        return password
    finally:
        await engine.dispose()


async def list_users(database_url: str) -> list[User]:
    upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        return await UserStore(engine).list()
    finally:
        await engine.dispose()


async def manage_user(
    database_url: str,
    redis_url: str | None,
    action: Action,
    username: str,
    *,
    role: str | None = None,
) -> tuple[User, str | None]:
    """Disable, enable, change the role of, or reset the password of an account, audited
    as done by :data:`CLI_ACTOR`. Returns the account and, for ``reset``, the one-time code.

    With ``redis_url`` the account's new state is written to the shared store, so open
    sessions follow at once; on the embedded default the server's state is in its own
    memory and the change reaches open sessions within the state cache's few seconds."""
    upgrade_database(database_url)
    engine = create_engine(database_url)
    store = create_store(redis_url)
    try:
        users = UserStore(engine)
        admin = AccountAdmin(users, AuditLog(engine), AccountStates(store, users))
        if action == "disable":
            return await admin.disable(CLI_ACTOR, username), None
        if action == "enable":
            return await admin.enable(CLI_ACTOR, username), None
        if action == "role":
            if role is None:
                raise AccountError("请给出角色")
            return await admin.set_role(CLI_ACTOR, username, role), None
        return await admin.start_reset(CLI_ACTOR, username)
    finally:
        await store.close()
        await engine.dispose()
