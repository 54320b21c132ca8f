"""Booking references (PNRs): 6 characters from an alphabet without look-alikes.

No 0, 1, I, L or O, so a reference read out over the phone or copied from paper is
not mistaken for another. 31 symbols give 31**6 (about 887 million) references; the
database's unique index catches the rare collision and the caller retries.
"""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 6


def new_reference() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
