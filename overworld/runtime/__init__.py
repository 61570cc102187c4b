"""Server code written in Python: hooks now; RPCs, events and the server API build on this."""
