"""Account commands that run outside the web app: ``intake user add`` and the demo admin
the development run command creates on a fresh machine."""

from __future__ import annotations

from integrations.accounts.users import AccountError, User, UserStore, generate_password
from integrations.db import create_engine
from integrations.db.migrate import upgrade_database

__all__ = ["DEMO_ADMIN", "add_user", "ensure_demo_admin"]

DEMO_ADMIN = "admin"


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
