"""Sealing a value that must be kept whole for a while but not readable where it waits.

A resident's phone number is needed whole on the ticket (staff call back; the dispatch
system gets it), but between the message that gives it and the confirmation that files
the ticket it waits in the dialogue state in Redis (up to a day), and a complaint confirmed
while the database is away waits there too (up to a week). There it is sealed: AES-256-GCM
with a key derived (HKDF-SHA256) from ``INTAKE_PERSONAL_DATA_KEY``, bound to the resident
(the openid is the associated data, so a sealed value moved into another resident's state
does not open). A Redis dump, an AOF file or a replica shows ``sealed:v1:…``, never the
number.

Rotation: a :class:`Sealer` opens values sealed with its previous key too
(``INTAKE_PERSONAL_DATA_PREVIOUS_KEY``) and seals with the current one. A value that opens
with neither (the key changed without the previous one given) raises :class:`SealError`;
the conversation then asks the resident for the number again.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SEALED_PREFIX", "SealError", "Sealer", "is_sealed"]

SEALED_PREFIX: Final = "sealed:v1:"
_INFO: Final = b"intake personal data seal v1"
_NONCE: Final = 12


class SealError(ValueError):
    """A sealed value that cannot be opened (another key, another resident, damaged)."""


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def _derive(secret: str) -> tuple[str, AESGCM]:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret.encode()
    )
    # The key id tells which key sealed a value; it reveals nothing about the key.
    key_id = hashlib.sha256(b"key id" + key).hexdigest()[:8]
    return key_id, AESGCM(key)


class Sealer:
    """Seal and open short strings with the personal-data key (and its predecessor)."""

    def __init__(self, key: str, previous: Sequence[str] = ()) -> None:
        if not key:
            raise ValueError("a personal-data key is required")
        self._current = _derive(key)
        self._keys = dict([self._current, *(_derive(k) for k in previous if k)])

    def seal(self, value: str, *, context: str) -> str:
        """``value`` encrypted and bound to ``context`` (the resident's openid)."""
        key_id, aead = self._current
        nonce = os.urandom(_NONCE)
        sealed = aead.encrypt(nonce, value.encode(), context.encode())
        payload = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{SEALED_PREFIX}{key_id}:{payload}"

    def open(self, token: str, *, context: str) -> str:
        """The value :meth:`seal` sealed; :class:`SealError` when it cannot be opened."""
        if not is_sealed(token):
            raise SealError("not a sealed value")
        key_id, _, payload = token[len(SEALED_PREFIX) :].partition(":")
        aead = self._keys.get(key_id)
        if aead is None:
            raise SealError("sealed with a key this process does not have")
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            return aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealError("the sealed value does not open") from exc
