"""A player's inventory: items with quantities, properties and expiry; grant, consume, revoke."""
