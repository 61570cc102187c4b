"""Server code for tests/api/test_client_behaviours_realtime.py: RPCs that fail."""

from overworld.runtime import ApiError, Code, InitContext, Initializer, RpcContext, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.rpc("e2e_crash")
    def crash(ctx: RpcContext, payload: str) -> str:
        raise RuntimeError("wallet service unreachable")  # not an ApiError: unexpected

    @initializer.rpc("e2e_refuse")
    def refuse(ctx: RpcContext, payload: str) -> str:
        raise ApiError("Not enough coins.", Code.FAILED_PRECONDITION)
