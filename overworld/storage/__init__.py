"""The storage engine: JSON objects keyed by collection, key and owner, with permissions and versions."""
