"""Async client of WeChat's Official Account API, with a shared access_token cache.

The fake API for tests and the dev simulator is in :mod:`integrations.wechat.fake_server`
(not imported here, so production code does not load uvicorn).
"""

from integrations.wechat.client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, WeChatClient
from integrations.wechat.errors import (
    CustomerServiceWindowClosed,
    WeChatAPIError,
    WeChatAuthError,
    WeChatError,
    WeChatNetworkError,
)
from integrations.wechat.retry import RetryPolicy
from integrations.wechat.token import AccessTokenCache

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "AccessTokenCache",
    "CustomerServiceWindowClosed",
    "RetryPolicy",
    "WeChatAPIError",
    "WeChatAuthError",
    "WeChatClient",
    "WeChatError",
    "WeChatNetworkError",
]
