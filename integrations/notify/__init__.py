"""Status pushes to residents: queued with each ticket change, sent by :class:`PushSender`.

Customer-service text while WeChat's 48-hour window is open (and the per-resident quota
lasts), else the status template message, else a subscription message the resident
consented to (:mod:`integrations.notify.consents`), else the operator's SMS hook
(:mod:`integrations.notify.sms`); see :mod:`integrations.notify.sender`.
"""

from integrations.notify.queue import enqueue_push
from integrations.notify.residents import record_inbound

__all__ = ["enqueue_push", "record_inbound"]
