"""Managing accounts (console admins and ``intake user``): disable, enable, change a role,
issue a one-time password-reset code, and set a password with it.

Every action is audited, and the account's new state is written through to the shared cache
(:class:`~integrations.accounts.status.AccountStates`), so open sessions follow at once: a
disabled account's session is refused on its next request, a new role applies to it.
"""

from __future__ import annotations

from integrations.accounts.audit import AuditLog
from integrations.accounts.errors import AccountError
from integrations.accounts.status import AccountStates
from integrations.accounts.users import ROLE_LABELS, User, UserStore

__all__ = ["AccountAdmin"]


def _target(username: str) -> str:
    return f"user:{username}"


class AccountAdmin:
    """The account actions, each checked, performed, published and audited."""

    def __init__(self, users: UserStore, audit: AuditLog, states: AccountStates) -> None:
        self.users = users
        self.audit = audit
        self.states = states

    async def disable(self, actor: str, username: str, *, ip: str | None = None) -> User:
        if actor == username:
            raise AccountError("不能停用自己的账号，请让另一位管理员操作。")
        user, changed = await self.users.set_active(username, False)
        await self.states.publish(user)
        if changed:
            await self.audit.record(
                actor, "account.disable", _target(username), detail="停用账号，会话全部结束", ip=ip
            )
        return user

    async def enable(self, actor: str, username: str, *, ip: str | None = None) -> User:
        user, changed = await self.users.set_active(username, True)
        await self.states.publish(user)
        if changed:
            await self.audit.record(actor, "account.enable", _target(username), ip=ip)
        return user

    async def set_role(
        self, actor: str, username: str, role: str, *, ip: str | None = None
    ) -> User:
        if actor == username:
            raise AccountError("不能修改自己的角色，请让另一位管理员操作。")
        user, former = await self.users.set_role(username, role)
        await self.states.publish(user)
        if former != role:
            detail = f"{ROLE_LABELS.get(former, former)} → {ROLE_LABELS.get(role, role)}"
            await self.audit.record(actor, "account.role", _target(username), detail=detail, ip=ip)
        return user

    async def start_reset(
        self, actor: str, username: str, *, ip: str | None = None
    ) -> tuple[User, str]:
        """Returns the account and the one-time code (to be shown once, never stored or
        logged)."""
        if actor == username:
            raise AccountError(
                "不能在这里重置自己的密码，请让另一位管理员操作，"
                "或在服务器上运行 intake user reset。"
            )
        user, code = await self.users.start_reset(username)
        await self.states.publish(user)
        await self.audit.record(
            actor,
            "account.reset",
            _target(username),
            detail="签发一次性重置码，原密码和会话已失效",
            ip=ip,
        )
        return user, code

    async def finish_reset(self, code: str, password: str, *, ip: str | None = None) -> User:
        user = await self.users.finish_reset(code, password)
        await self.states.publish(user)
        await self.audit.record(
            user.username,
            "account.password_set",
            _target(user.username),
            detail="用重置码设置新密码",
            ip=ip,
        )
        return user
