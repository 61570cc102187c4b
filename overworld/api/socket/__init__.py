"""The realtime socket adapter: `/ws`, envelopes in and out, and one handler per message kind.

Handlers are thin: they decode Nakama's message, call the domain services through the same
before/after hooks as REST calls, and encode the reply.
"""
