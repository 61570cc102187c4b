"""Stateful subsystems, each an interface with an embedded (in-process) and a cluster (Redis)
implementation. `overworld.node` picks one set at start; nothing above this package knows which.
"""
