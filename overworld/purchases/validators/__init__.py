"""One module per store: what it takes to confirm a receipt with that store, and nothing else (no
records, no grants). Each raises `ApiError`s: INVALID_ARGUMENT naming the field for a malformed
receipt or a signature that does not verify, FAILED_PRECONDITION for what the store refuses,
UNAVAILABLE when the store cannot be reached."""
