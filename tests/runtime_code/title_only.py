"""Copied into the test title's own folder: a hook that must run for that title only."""

from __future__ import annotations

from typing import Any

from overworld.runtime import CallContext, InitContext, Initializer, PermissionDenied, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.before("AuthenticateCustom")
    def members_only(call: CallContext, request: Any) -> Any:
        if request.account.id.startswith("outsider-"):
            raise PermissionDenied(f"Not on {call.title.name}.")
        return request
