"""The realtime socket adapter: `/ws`, envelopes in and out, and the socket's API calls.

`dispatch` decodes each envelope and hands its message to the call declared for its kind in
`overworld.api.calls`, which runs the operation (in `chat`, `status`, `party`, `matches`,
`matchmaker`) through the same before/after hooks as REST calls; the reply goes back in the
envelope field the call names.
"""
