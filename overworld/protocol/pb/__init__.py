"""Generated protobuf code of the realtime socket (built from realtime.proto by setup.py)."""
