"""A before hook: refuse logins from banned devices before any account is looked up."""

from typing import Any

from overworld.runtime import CallContext, InitContext, Initializer, PermissionDenied, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    def reject_banned(ctx: CallContext, request: Any) -> Any:
        if request.account.id.startswith("banned-"):
            nk.metrics_counter_add("banned_logins")
            raise PermissionDenied("This device is banned.")
        return request  # returning None would reject every call (404), as in Nakama

    initializer.register_before("AuthenticateDevice", reject_banned)
