"""Console users in the database; passwords are hashed with argon2id (argon2-cffi)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from integrations.db.models import UserRow, utcnow
from integrations.errors import IntakeError

__all__ = ["ROLES", "AccountError", "User", "UserStore", "generate_password"]

ROLES = ("staff", "admin")
MIN_PASSWORD = 10
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")

_hasher = PasswordHasher()
#: verified against when the username is unknown, so both cases cost the same time
_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(8))


class AccountError(IntakeError):
    """An account cannot be created or changed as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class User:
    """A console account (never carries the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def generate_password() -> str:
    """A random password a person can type (no look-alike characters)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))



def _user(row: UserRow) -> User:
    return User(row.id, row.username, row.display_name, row.role, row.active)


class UserStore:
    """Create, authenticate and list console users."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock

    async def count(self) -> int:
        async with self._sessions() as session:
            count = (await session.execute(select(func.count()).select_from(UserRow))).scalar()
            return int(count or 0)

    async def create(
        self, username: str, password: str, *, role: str, display_name: str | None = None
    ) -> User:
        if not _USERNAME_RE.match(username):
            raise AccountError("用户名只能用 2-64 位字母、数字、下划线、点或横线")
        if role not in ROLES:
            raise AccountError(f"角色必须是 {' / '.join(ROLES)} 之一")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"密码至少 {MIN_PASSWORD} 位")
        row = UserRow(
            username=username,
            display_name=(display_name or username)[:64],
            role=role,
            password_hash=_hasher.hash(password),
            active=True,
            created_at=self._clock(),
        )
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise AccountError(f"用户 {username} 已存在") from None
        return _user(row)

    async def set_password(self, username: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"密码至少 {MIN_PASSWORD} 位")
        async with self._sessions() as session, session.begin():
            row = await self._row(session, username)
            if row is None:
                raise AccountError(f"没有用户 {username}")
            row.password_hash = _hasher.hash(password)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password is right and the account active, else ``None``."""
        async with self._sessions() as session, session.begin():
            row = await self._row(session, username)
            stored = row.password_hash if row is not None else _DUMMY_HASH
            try:
                _hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if row is None or not row.active:
                return None
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            row.last_login_at = self._clock()
            return _user(row)

    async def get(self, user_id: int) -> User | None:
        async with self._sessions() as session:
            row = await session.get(UserRow, user_id)
            return _user(row) if row is not None else None

    async def list(self) -> list[User]:
        async with self._sessions() as session:
            rows = await session.execute(select(UserRow).order_by(UserRow.username))
            return [_user(row) for row in rows.scalars()]

    @staticmethod
    async def _row(session: AsyncSession, username: str) -> UserRow | None:
        result = await session.execute(select(UserRow).where(UserRow.username == username))
        return result.scalar_one_or_none()
