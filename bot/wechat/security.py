"""Callback authentication: signatures (constant-time), timestamp window, AES envelopes.

Plain mode's ``signature`` covers token/timestamp/nonce only, not the body, so the timestamp
window and message dedup are enforced here and in the dedup middleware. Safe mode uses
wechatpy's AES implementation (``PrpCrypto``) behind our own constant-time signature check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

from wechatpy.crypto import PrpCrypto

from core.errors import IntakeError

__all__ = [
    "AESEnvelope",
    "InvalidSignature",
    "StaleTimestamp",
    "check_timestamp",
    "sha1_signature",
    "verify_signature",
]


class InvalidSignature(IntakeError):
    """``signature`` / ``msg_signature`` does not match, or the envelope does not decrypt."""


class StaleTimestamp(IntakeError):
    """The request's timestamp is outside the accepted window (replay protection)."""


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the lexicographically sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def verify_signature(expected_parts: tuple[str, ...], signature: str | None) -> None:
    """Raise :class:`InvalidSignature` unless ``signature`` matches (constant time)."""
    if not signature:
        raise InvalidSignature("missing signature")
    computed = sha1_signature(*expected_parts)
    if not hmac.compare_digest(computed.encode(), signature.strip().lower().encode()):
        raise InvalidSignature("signature mismatch")


def check_timestamp(timestamp: str | None, *, now: float, window: float) -> None:
    """Raise :class:`StaleTimestamp` unless ``timestamp`` is within ``window`` s of ``now``."""
    try:
        ts = int(timestamp or "")
    except ValueError:
        raise StaleTimestamp("timestamp is not an integer") from None
    if abs(now - ts) > window:
        raise StaleTimestamp("timestamp outside the accepted window")


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey; ValueError when invalid."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("EncodingAESKey is not valid base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


class AESEnvelope:
    """Safe-mode envelope of one account: verify ``msg_signature``, decrypt, encrypt replies."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._token = token
        self._key = decode_aes_key(encoding_aes_key)
        self._app_id = app_id

    def decrypt(
        self, encrypted: str, *, msg_signature: str | None, timestamp: str, nonce: str
    ) -> str:
        """Verify the signature over ``encrypted`` and return the plaintext XML."""
        verify_signature((self._token, timestamp, nonce, encrypted), msg_signature)
        try:
            # wechatpy raises assorted errors on garbage (padding, length, app id); all mean
            # the envelope is not ours.
            plaintext: str = PrpCrypto(self._key).decrypt(encrypted, self._app_id)
        except Exception as exc:
            raise InvalidSignature(f"envelope does not decrypt: {type(exc).__name__}") from exc
        return plaintext

    def encrypt(
        self,
        xml: str,
        *,
        nonce: str | None = None,
        timestamp: str | None = None,
        random_prefix: str | None = None,
    ) -> str:
        """The encrypted reply document (``Encrypt``/``MsgSignature``/``TimeStamp``/``Nonce``).

        ``random_prefix`` (16 characters) only exists to reproduce published test vectors.
        """
        nonce = nonce or secrets.token_hex(8)
        timestamp = timestamp or str(int(time.time()))
        crypto = PrpCrypto(self._key)
        if random_prefix is not None:
            crypto.get_random_string = lambda: random_prefix
        encrypted = crypto.encrypt(xml, self._app_id)
        encrypted_text = encrypted.decode() if isinstance(encrypted, bytes) else str(encrypted)
        signature = sha1_signature(self._token, timestamp, nonce, encrypted_text)
        return (
            "<xml>"
            f"<Encrypt><![CDATA[{encrypted_text}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>"
            "</xml>"
        )
