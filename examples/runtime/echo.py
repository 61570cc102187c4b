"""The smallest RPC: answers with the payload it was given.

curl -X POST "http://127.0.0.1:7350/v2/rpc/echo?http_key=defaulthttpkey" -d '"hello"'
{"id":"echo","payload":"hello"}
"""

from overworld.runtime import InitContext, Initializer, RpcContext, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.rpc("echo")
    def echo(ctx: RpcContext, payload: str) -> str:
        return payload  # a plain function: runs on the event loop, so it must not block
