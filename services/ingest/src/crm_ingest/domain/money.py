"""Amounts at the precision of their currency (JPY has no minor unit)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from crm_common.events import Money
from crm_ingest.domain.errors import field_error

# ISO 4217 exponents that differ from the usual 2.
_MINOR_UNITS: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "PYG": 0,
    "UGX": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "RWF": 0,
    "KMF": 0,
    "GNF": 0,
    "VUV": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}


def minor_units(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (2 unless listed)."""
    return _MINOR_UNITS.get(currency, 2)


def to_amount(value: Decimal, currency: str, path: str) -> Decimal:
    """``value`` with exactly the currency's number of decimals.

    Refuses to round: an amount finer than the currency allows ("1000.5" JPY) is a
    data problem to surface, not something to hide.
    """
    exponent = Decimal(1).scaleb(-minor_units(currency))
    try:
        quantized = value.quantize(exponent)
    except InvalidOperation:
        raise field_error(path, f"amount out of range: '{value}'") from None
    if quantized != value:
        raise field_error(path, f"more decimal places than {currency} allows: '{value}'")
    return quantized


def to_money(value: Decimal, currency: str, path: str) -> Money:
    """A :class:`Money` at the currency's precision (see :func:`to_amount`)."""
    return Money(amount=to_amount(value, currency, path), currency=currency)
