"""`overworld loadtest`: a load generator that plays many Nakama clients against a server over the
network (REST and the realtime socket), with a live view, a report and a pass/fail verdict.

A command-layer package: it speaks to a server only over the network and imports nothing of the
server (`.importlinter` keeps it so); the server never imports it.
"""
