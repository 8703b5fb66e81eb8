"""Yuan strings as the providers write them ("12.34") and integer fen as the platform keeps them."""

import re

_YUAN = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?")


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_to_fen(text: str) -> int:
    """Exact conversion; anything but a plain decimal with at most two places is refused."""
    match = _YUAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an amount in yuan: {text!r}")
    sign, whole, cents = match.groups()
    fen = int(whole) * 100 + int((cents or "0").ljust(2, "0"))
    return -fen if sign else fen
