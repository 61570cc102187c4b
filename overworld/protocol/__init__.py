"""Nakama's API messages as msgspec Structs.

Field names are the proto names (snake_case). `omit_defaults` drops fields at their zero value,
as protojson does. Unknown request fields are ignored. 64-bit integers go out as strings.
"""
