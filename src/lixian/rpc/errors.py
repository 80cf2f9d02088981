"""aria2's RPC errors: one exception, aria2's exact texts, and a strict parameter reader.

Why a module of its own: clients show these messages and some match on them, so each
text is written once, here, in aria2 1.37's wording (checked against the real aria2c,
not its docs). aria2 shapes every method failure as ``{"code": 1, "message": ...}``;
only an envelope that is not a request at all gets a JSON-RPC code (-32600 and kin).

``Params`` reads positional parameters the way aria2's ``checkRequiredParam`` and
``checkParam`` do: indices count from the first parameter after the token, an
optional parameter that is present must still have the right type (``null`` is
"wrong type"), and a JSON number with a fraction is truncated to an integer, since
aria2's JSON reader keeps only integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "Params",
    "RpcError",
    "as_integer",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601  # aria2 never sends it ("No such method" is code 1); kept for http_status
INVALID_PARAMS = -32602

# The envelope errors' messages, as aria2 prints them (with the full stop).
ENVELOPE_MESSAGES = {
    PARSE_ERROR: "Parse error.",
    INVALID_REQUEST: "Invalid Request.",
    INVALID_PARAMS: "Invalid params.",
}

UNAUTHORIZED = "Unauthorized"


class RpcError(Exception):
    """A method failed; aria2 answers ``{"code": code, "message": message}`` (code 1)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}

    def __str__(self) -> str:
        return self.message


def as_integer(value: object) -> int | None:
    """An RPC integer, or None: ints (not bools) as they are, finite floats truncated."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


class Params:
    """Positional parameters (token already removed), checked with aria2's messages."""

    __slots__ = ("_values",)

    def __init__(self, values: Sequence[object]) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def get(self, i: int) -> object | None:
        """The raw parameter, None when absent: lixian's own methods take ``null`` for
        "the default" (handy from JavaScript), which aria2's never do."""
        return self._values[i] if i < len(self._values) else None

    def _get(self, i: int, required: bool) -> object | None:
        if i >= len(self._values):
            if required:
                raise RpcError(f"The parameter at {i} is required but missing.")
            return None
        return self._values[i]

    @staticmethod
    def _wrong(i: int) -> RpcError:
        return RpcError(f"The parameter at {i} has wrong type.")

    def string(self, i: int) -> str:
        value = self._get(i, True)
        if not isinstance(value, str):
            raise self._wrong(i)
        return value

    def integer(self, i: int, minimum: int | None = None) -> int:
        number = as_integer(self._get(i, True))
        if number is None:
            raise self._wrong(i)
        return self._at_least(i, number, minimum)

    def optional_integer(self, i: int, minimum: int | None = None) -> int | None:
        if i >= len(self._values):
            return None
        number = as_integer(self._values[i])
        if number is None:
            raise self._wrong(i)
        return self._at_least(i, number, minimum)

    @staticmethod
    def _at_least(i: int, number: int, minimum: int | None) -> int:
        if minimum is not None and number < minimum:
            raise RpcError(
                f"The integer parameter at {i} has invalid value: "
                f"the value must be greater than or equal to {minimum}."
            )
        return number

    def array(self, i: int) -> list[object]:
        value = self._get(i, True)
        if not isinstance(value, list):
            raise self._wrong(i)
        return value

    def optional_array(self, i: int) -> list[object] | None:
        if i >= len(self._values):
            return None
        value = self._values[i]
        if not isinstance(value, list):
            raise self._wrong(i)
        return value

    def struct(self, i: int) -> dict[str, object]:
        value = self._get(i, True)
        if not isinstance(value, dict):
            raise self._wrong(i)
        return value

    def optional_struct(self, i: int) -> dict[str, object] | None:
        if i >= len(self._values):
            return None
        value = self._values[i]
        if not isinstance(value, dict):
            raise self._wrong(i)
        return value

    def strings(self, i: int) -> list[str]:
        """A required array, keeping only its strings (aria2 skips the other items)."""
        return [v for v in self.array(i) if isinstance(v, str)]

    def keys(self, i: int) -> list[str] | None:
        """An optional ``keys`` array; None (every key) when absent or empty, as aria2."""
        found = self.optional_array(i) or []
        return [v for v in found if isinstance(v, str)] or None
