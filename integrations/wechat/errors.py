"""Typed errors of the WeChat API client, all under :class:`WeChatError` (a
:class:`~core.errors.RemoteServiceError`)."""

from __future__ import annotations

from core.errors import RemoteServiceError

__all__ = [
    "AUTH_ERRCODES",
    "SYSTEM_BUSY",
    "TOKEN_INVALID_ERRCODES",
    "WINDOW_CLOSED_ERRCODES",
    "CustomerServiceWindowClosed",
    "WeChatAPIError",
    "WeChatAuthError",
    "WeChatError",
    "WeChatNetworkError",
    "api_error",
]

#: errcode -1, "system error": WeChat's own hiccup, worth retrying.
SYSTEM_BUSY = -1

#: The access_token was rejected (invalid, not the latest, or expired): refresh and retry once.
TOKEN_INVALID_ERRCODES = frozenset({40001, 40014, 42001})

#: 45015: the resident has not written within 48 hours; 45047: push quota for them used up.
WINDOW_CLOSED_ERRCODES = frozenset({45015, 45047})

#: Answers of the token endpoints meaning the account's credentials (or this server's IP)
#: are not accepted. On the token endpoints 40001 means a wrong AppSecret, not a stale token.
AUTH_ERRCODES = frozenset(
    {
        40001,  # AppSecret wrong or not of this account
        40002,  # invalid grant_type
        40013,  # invalid AppID
        40125,  # invalid AppSecret
        40164,  # caller IP not on the account's whitelist
        40243,  # AppSecret frozen
        41002,  # AppID missing
        41004,  # AppSecret missing
        89503,  # this IP needs an administrator's confirmation
        89506,  # administrator refused this IP
        89507,  # administrator refused this IP for an hour
    }
)


class WeChatError(RemoteServiceError):
    """Root of the WeChat client's errors."""


class WeChatNetworkError(WeChatError):
    """No usable answer from WeChat: connection failure, timeout, HTTP error or garbled body.

    ``status_code`` is set when WeChat (or a proxy) answered with a non-200 HTTP status.
    ``in_doubt``: the request may have reached WeChat (a read timeout, a connection dropped
    mid-answer): a message send may have been delivered; only a failed connection proves
    it was not.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, in_doubt: bool = False
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.in_doubt = in_doubt


class WeChatAPIError(WeChatError):
    """WeChat answered with a non-zero ``errcode``."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatAuthError(WeChatAPIError):
    """The token endpoint refused the AppID/AppSecret or this server's IP; fix configuration."""


class CustomerServiceWindowClosed(WeChatAPIError):
    """A customer-service message cannot reach the resident now (45015 or 45047).

    Fall back to a template message.
    """


def api_error(errcode: int, errmsg: str, *, token_endpoint: bool = False) -> WeChatAPIError:
    """The most specific error class for ``errcode``."""
    if token_endpoint and errcode in AUTH_ERRCODES:
        return WeChatAuthError(errcode, errmsg)
    if not token_endpoint and errcode in WINDOW_CLOSED_ERRCODES:
        return CustomerServiceWindowClosed(errcode, errmsg)
    return WeChatAPIError(errcode, errmsg)
