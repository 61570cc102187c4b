"""Nakama's realtime error codes, and how service errors map to them."""

from __future__ import annotations

from overworld.errors import ApiError, Code

RUNTIME_EXCEPTION = 0
UNRECOGNIZED_PAYLOAD = 1
MISSING_PAYLOAD = 2
BAD_INPUT = 3
MATCH_NOT_FOUND = 4
MATCH_JOIN_REJECTED = 5
RUNTIME_FUNCTION_NOT_FOUND = 6
RUNTIME_FUNCTION_EXCEPTION = 7


class SocketError(Exception):
    """An error envelope with a realtime code chosen by the handler."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def realtime_code(exc: ApiError) -> int:
    if exc.code in (
        Code.INVALID_ARGUMENT,
        Code.NOT_FOUND,
        Code.PERMISSION_DENIED,
        Code.ALREADY_EXISTS,
        Code.RESOURCE_EXHAUSTED,
        Code.FAILED_PRECONDITION,
        Code.OUT_OF_RANGE,
    ):
        return BAD_INPUT
    if exc.code == Code.UNAVAILABLE:  # no realtime code for it: the gRPC code, as REST answers
        return int(Code.UNAVAILABLE)
    return RUNTIME_EXCEPTION
