"""Residents' personal data: recognised, masked for display, redacted before storage.

The one place that knows what a phone, ID-card or bank-card number looks like and how each
is shown, stored and logged. Every layer imports it — ``bot`` (logging, the console, the
dialogue state), ``nlu`` (entities), ``policies`` (what a case keeps of the resident's
words) and ``integrations`` (what the database and the state store keep) — so it imports
none of them: it is pure (standard library and ``cryptography``), below the one-way flow
bot → nlu → policies → integrations.

==========================  ===============================================================
:func:`find_numbers`        phones, ID numbers (checksum-aware), bank cards (Luhn-aware)
                            in any spelling, with spans (:mod:`privacy.numbers`)
:func:`redact`              before anything is stored or cached: ID numbers, cards and
                            (unless ``keep_phones``) phones masked for good
:func:`mask_text`           for logs and console pages: the above plus house and room
                            numbers; never raises
:func:`mask_phone`,         fields shown before an audited reveal
:func:`mask_address`,
:func:`mask_openid`
:class:`Sealer`             the case's phone encrypted in the state store
                            (:mod:`privacy.sealing`)
:class:`PersonalDataFilter` every log record masked (:mod:`privacy.logfilter`)
==========================  ===============================================================

docs/security.md ("Personal data") says where each kind of data lives and for how long.
"""

from privacy.logfilter import PersonalDataFilter, install_record_masking, mask_record
from privacy.masking import (
    MASK,
    WITHHELD,
    mask_address,
    mask_found,
    mask_openid,
    mask_phone,
    mask_text,
    redact,
)
from privacy.numbers import Found, find_numbers, is_valid_id_number, luhn_valid, mask_id_number
from privacy.sealing import SEALED_PREFIX, Sealer, SealError, is_sealed

__all__ = [
    "MASK",
    "SEALED_PREFIX",
    "WITHHELD",
    "Found",
    "PersonalDataFilter",
    "SealError",
    "Sealer",
    "find_numbers",
    "install_record_masking",
    "is_sealed",
    "is_valid_id_number",
    "luhn_valid",
    "mask_address",
    "mask_found",
    "mask_id_number",
    "mask_openid",
    "mask_phone",
    "mask_record",
    "mask_text",
    "redact",
]
