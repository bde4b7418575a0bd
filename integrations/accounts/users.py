"""Console users in the database; passwords are hashed with argon2id (argon2-cffi) in a
bounded thread pool (:mod:`integrations.accounts.hashing`), never on the event loop.

Besides creating and checking accounts, admins disable and enable them, change roles and
issue one-time password-reset codes. Disabling an account or changing its password raises
its ``session_epoch``, which ends every session stamped with an older one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from integrations.accounts.errors import AccountError
from integrations.accounts.hashing import PasswordHashing, shared_hashing
from integrations.accounts.policy import MIN_PASSWORD, check_password
from integrations.db.models import UserRow, utcnow

__all__ = [
    "MIN_PASSWORD",
    "RESET_CODE_LIFETIME",
    "ROLES",
    "AccountError",
    "LoginCheck",
    "LoginOutcome",
    "User",
    "UserStore",
    "generate_password",
    "normalize_reset_code",
]

ROLES = ("staff", "admin")
ROLE_LABELS = {"staff": "工作人员", "admin": "管理员"}
RESET_CODE_LIFETIME = timedelta(hours=24)
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
#: no look-alike characters (0/O, 1/I/L), so a code read aloud or retyped survives
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
#: what a password hash becomes while a reset is pending: never a valid argon2 hash
_NO_PASSWORD = "!reset-pending"  # noqa: S105 - a marker, not a password


@dataclass(frozen=True, slots=True)
class User:
    """A console account (never carries the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool
    session_epoch: int = 0
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    reset_pending: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


class LoginOutcome(Enum):
    """How a login check ended; the login page words its answer by it."""

    OK = "ok"
    WRONG = "wrong"  # no such account, or the password does not match
    DISABLED = "disabled"  # right password, but an admin disabled the account


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """The result of :meth:`UserStore.check_login`; ``exists`` tells the audit log whether
    what was typed is an account name (and may be written down) or not."""

    outcome: LoginOutcome
    user: User | None
    exists: bool


def generate_password() -> str:
    """A random password a person can type (no look-alike characters)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(16))
        try:
            check_password(password)
        except AccountError:  # astronomically rare (e.g. too few distinct characters)
            continue
        return password


def _new_reset_code() -> str:
    """20 characters of a 31-letter alphabet (about 99 bits) in groups of four."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(20))
    return "-".join(raw[i : i + 4] for i in range(0, 20, 4))


def normalize_reset_code(code: str) -> str:
    """The code as issued, whatever case, spaces or dashes it was typed with."""
    raw = re.sub(r"[\s-]+", "", code).upper()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _code_hash(code: str) -> str:
    # A fast hash is enough: the code is random and long, unlike a password.
    return hashlib.sha256(normalize_reset_code(code).encode()).hexdigest()


def _user(row: UserRow) -> User:
    return User(
        row.id,
        row.username,
        row.display_name,
        row.role,
        row.active,
        session_epoch=row.session_epoch or 0,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        reset_pending=row.reset_code_hash is not None,
    )


def _check_username(username: str) -> None:
    if not _USERNAME_RE.match(username):
        raise AccountError("用户名只能用 2-64 位字母、数字、下划线、点或横线")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"角色必须是 {' / '.join(ROLES)} 之一")


class UserStore:
    """Create, authenticate, list and manage console users."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
        hashing: PasswordHashing | None = None,
    ) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock
        self._hashing = hashing or shared_hashing()

    async def count(self) -> int:
        async with self._sessions() as session:
            count = (await session.execute(select(func.count()).select_from(UserRow))).scalar()
            return int(count or 0)

    async def create(
        self, username: str, password: str, *, role: str, display_name: str | None = None
    ) -> User:
        _check_username(username)
        _check_role(role)
        check_password(password, username=username)
        row = UserRow(
            username=username,
            display_name=(display_name or username)[:64],
            role=role,
            password_hash=await self._hashing.hash(password),
            active=True,
            created_at=self._clock(),
            session_epoch=0,
        )
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise AccountError(f"用户 {username} 已存在") from None
        return _user(row)

    async def check_login(self, username: str, password: str) -> LoginCheck:
        """Check a login. The password check runs in the hashing pool and no database
        transaction is open meanwhile (SQLite has one writer)."""
        async with self._sessions() as session:
            row = await self._row(session, username)
        stored = row.password_hash if row is not None else None
        if stored == _NO_PASSWORD:
            stored = None
        if not await self._hashing.verify(stored, password):
            return LoginCheck(LoginOutcome.WRONG, None, exists=row is not None)
        assert row is not None
        if not row.active:
            return LoginCheck(LoginOutcome.DISABLED, _user(row), exists=True)
        new_hash = (
            await self._hashing.hash(password) if self._hashing.needs_rehash(stored or "") else None
        )
        async with self._sessions() as session, session.begin():
            values: dict[str, object] = {"last_login_at": self._clock()}
            if new_hash:
                values["password_hash"] = new_hash
            await session.execute(update(UserRow).where(UserRow.id == row.id).values(**values))
        return LoginCheck(LoginOutcome.OK, _user(row), exists=True)

    async def get(self, user_id: int) -> User | None:
        async with self._sessions() as session:
            row = await session.get(UserRow, user_id)
            return _user(row) if row is not None else None

    async def by_username(self, username: str) -> User | None:
        async with self._sessions() as session:
            row = await self._row(session, username)
            return _user(row) if row is not None else None

    async def list(self) -> list[User]:
        async with self._sessions() as session:
            rows = await session.execute(select(UserRow).order_by(UserRow.username))
            return [_user(row) for row in rows.scalars()]

    # -- management -----------------------------------------------------------------------

    async def set_active(self, username: str, active: bool) -> tuple[User, bool]:
        """Disable or enable; returns the account and whether anything changed. Disabling
        ends every session; the last active admin cannot be disabled."""
        async with self._sessions() as session, session.begin():
            row = await self._existing(session, username)
            if row.active == active:
                return _user(row), False
            if not active and row.role == "admin":
                await self._keep_an_admin(session, row)
            row.active = active
            if not active:
                row.session_epoch = (row.session_epoch or 0) + 1
            return _user(row), True

    async def set_role(self, username: str, role: str) -> tuple[User, str]:
        """Change the role (applies to open sessions at once); returns the account and its
        former role. The last active admin keeps the admin role."""
        _check_role(role)
        async with self._sessions() as session, session.begin():
            row = await self._existing(session, username)
            former = row.role
            if former == "admin" and role != "admin" and row.active:
                await self._keep_an_admin(session, row)
            row.role = role
            return _user(row), former

    async def start_reset(
        self, username: str, *, lifetime: timedelta = RESET_CODE_LIFETIME
    ) -> tuple[User, str]:
        """Issue a one-time reset code: the old password stops working and every session
        ends at once; the code sets a new password once, within ``lifetime``. Only the
        code's SHA-256 is stored; a new code replaces an unused one."""
        code = _new_reset_code()
        async with self._sessions() as session, session.begin():
            row = await self._existing(session, username)
            row.password_hash = _NO_PASSWORD
            row.reset_code_hash = _code_hash(code)
            row.reset_expires_at = self._clock() + lifetime
            row.session_epoch = (row.session_epoch or 0) + 1
            return _user(row), code

    async def finish_reset(self, code: str, password: str) -> User:
        """Set the password with a reset code: once, before it expires."""
        code_hash = _code_hash(code)
        async with self._sessions() as session:
            row = (
                await session.execute(select(UserRow).where(UserRow.reset_code_hash == code_hash))
            ).scalar_one_or_none()
        if row is None or row.reset_expires_at is None or row.reset_expires_at <= self._clock():
            raise AccountError("这个重置链接或重置码无效或已过期，请联系管理员重新生成。")
        check_password(password, username=row.username)
        password_hash = await self._hashing.hash(password)
        async with self._sessions() as session, session.begin():
            # One statement that also checks the code is still unused and unexpired: two
            # submissions at once cannot both use it.
            result = await session.execute(
                update(UserRow)
                .where(
                    UserRow.id == row.id,
                    UserRow.reset_code_hash == code_hash,
                    UserRow.reset_expires_at > self._clock(),
                )
                .values(
                    password_hash=password_hash,
                    reset_code_hash=None,
                    reset_expires_at=None,
                    session_epoch=UserRow.session_epoch + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise AccountError("这个重置链接或重置码无效或已过期，请联系管理员重新生成。")
            fresh = await session.get(UserRow, row.id, populate_existing=True)
            assert fresh is not None
            return _user(fresh)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    async def _row(session: AsyncSession, username: str) -> UserRow | None:
        result = await session.execute(select(UserRow).where(UserRow.username == username))
        return result.scalar_one_or_none()

    async def _existing(self, session: AsyncSession, username: str) -> UserRow:
        row = await self._row(session, username)
        if row is None:
            raise AccountError(f"没有用户 {username}")
        return row

    @staticmethod
    async def _keep_an_admin(session: AsyncSession, row: UserRow) -> None:
        """Refuse to leave no active admin. Every active admin row is locked in id order
        (PostgreSQL), so two admins demoting each other at once are serialised and the second
        sees the first's change."""
        admins = await session.execute(
            select(UserRow.id)
            .where(UserRow.role == "admin", UserRow.active.is_(True))
            .order_by(UserRow.id)
            .with_for_update()
        )
        if not any(admin_id != row.id for admin_id in admins.scalars()):
            raise AccountError("至少要保留一位可用的管理员，这个操作会让系统没有管理员。")
