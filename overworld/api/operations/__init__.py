"""The API's operations, independent of transport.

Each function takes the node's services, the caller's context and Nakama's request message and
returns Nakama's response message (the socket's own calls, which need the caller's connection,
live in overworld.api.socket). Each is declared as an API call in `overworld.api.calls`, whose
`run` applies the call's before/after hooks; the HTTP routes, the HTTP fast path and the socket
are adapters that decode a request, resolve the caller and run the call.
"""
