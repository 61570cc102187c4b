from overworld.subsystems.ratelimit.base import RateLimiter, address_key
from overworld.subsystems.ratelimit.embedded import EmbeddedRateLimiter
from overworld.subsystems.ratelimit.policy import RateLimits

__all__ = ["EmbeddedRateLimiter", "RateLimiter", "RateLimits", "address_key"]
