"""Money as people read it, for error messages, logs and the CLI: ``USD 0.01``,
``JPY 1500``, ``BHD 1.250``.

An amount is shown with its currency's minor units (ISO 4217: two for most, none
for the yen, three for the dinars); digits beyond them are shown only when the amount
has them, never rounded away (a message must not state a different amount). Never
``USD 0.010000000`` (a Money message's nanos as they come).
"""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 currencies whose minor unit is not 2 (the current list, less funds codes).
_MINOR_UNITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}


def minor_units(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (2 when not known otherwise)."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def amount_text(value: Decimal, currency: str) -> str:
    """``value`` with ``currency``'s minor units, or more digits if it has them."""
    places = Decimal(1).scaleb(-minor_units(currency))
    shown = value.quantize(places)
    if shown != value:  # finer than the minor unit: keep every digit it has
        shown = value.normalize()
    return f"{shown:f}"


def money_text(value: Decimal, currency: str) -> str:
    """``USD 0.01``: the currency code and the amount (see ``amount_text``)."""
    return f"{currency} {amount_text(value, currency)}"
