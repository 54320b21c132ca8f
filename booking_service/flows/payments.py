"""Simulated payment: a token stands for a card; some tokens are declined.

"tok_declined", or any token starting with "decline", is declined. Anything else is
authorised and gets a payment reference. Only a hash of the token is stored, to
recognise a retried confirmation.
"""

from __future__ import annotations

import hashlib
import secrets

from services.errors import FailedPreconditionError

DECLINED_TOKEN = "tok_declined"
DECLINED_PREFIX = "decline"


def token_hash(payment_token: str) -> str:
    return hashlib.sha256(payment_token.encode()).hexdigest()


class SimulatedPayments:
    def declines(self, payment_token: str) -> bool:
        """Whether the token is declined (the simulator decides by the token alone)."""
        return payment_token == DECLINED_TOKEN or payment_token.lower().startswith(DECLINED_PREFIX)

    def authorise(
        self, payment_token: str, amount: str | None = None, currency: str | None = None
    ) -> str:
        """A payment reference; FAILED_PRECONDITION / PAYMENT_DECLINED if declined.
        Without an amount it authorises the booking's total as the confirmation records
        it (the simulator charges whatever that is)."""
        if self.declines(payment_token):
            metadata = {} if amount is None else {"amount": amount, "currency": currency or ""}
            raise FailedPreconditionError(
                "the payment was declined; the seats stay held until the hold expires",
                reason="PAYMENT_DECLINED",
                metadata=metadata,
            )
        return f"pay_{secrets.token_hex(12)}"

    def void(self, payment_reference: str) -> None:
        """Releases an authorisation that could not be used (the hold ran out first)."""
