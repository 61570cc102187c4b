"""The ranges of protobuf's integer types, for the bounds of integer query parameters: a number
outside its field's type is a 400 naming the parameter, never a value handed on to SQL."""

from __future__ import annotations

from typing import Any

INT32: dict[str, Any] = {"ge": -(2**31), "le": 2**31 - 1}
UINT32: dict[str, Any] = {"ge": 0, "le": 2**32 - 1}
INT64: dict[str, Any] = {"ge": -(2**63), "le": 2**63 - 1}
