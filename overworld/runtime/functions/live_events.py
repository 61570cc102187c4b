"""Remote config and live event functions of server code (`nk.remote_config_*`, `nk.live_event_*`),
mixed into `overworld.runtime.ServerApi`. They act for the `ServerApi`'s title.

Times given to these functions are Unix seconds (as Nakama's runtime functions take them); the
`LiveEvent`s returned carry Unix milliseconds (`start_time`, `end_time`, `create_time`...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from overworld.errors import InvalidArgument
from overworld.live_events.models import ConfigValue, EffectiveConfig, LiveEvent, Occurrence
from overworld.live_events.service import LiveEventService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title

_UNSET: Any = object()


def _ms(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidArgument(f"{name} must be Unix seconds (a number of at least 0).")
    return round(value * 1000)


class LiveEventFunctions:
    """The `nk.remote_config_*` and `nk.live_event_*` functions (coroutines)."""

    _runtime: Runtime
    _title: Title

    @property
    def _live(self) -> LiveEventService:
        return self._runtime.services.live_events

    # -- remote config ---------------------------------------------------------------------------

    async def remote_config_set(self, key: str, value: Any, version: int | None = None) -> ConfigValue:
        """Set a base config value (any JSON value, 16 KiB at most). With `version`, only if
        the key is at that version (0: does not exist yet); FAILED_PRECONDITION otherwise."""
        return await self._live.config_set(self._title.id, key, value, version)

    async def remote_config_get(self, keys: Iterable[str] | None = None) -> dict[str, ConfigValue]:
        """The base config values (of `keys` only, when given), by key."""
        return await self._live.config_get(self._title.id, None if keys is None else list(keys))

    async def remote_config_delete(self, key: str) -> bool:
        """Delete a base config value; False if there was none."""
        return await self._live.config_delete(self._title.id, key)

    async def remote_config_effective(self, user_id: str) -> EffectiveConfig:
        """A player's config now: the base values with the overrides of the events live for them."""
        return await self._live.effective_config(self._title.id, user_id)

    # -- live events -----------------------------------------------------------------------------

    async def live_event_create(
        self,
        name: str,
        start_time: float,
        end_time: float = 0,
        *,
        description: str = "",
        cron: str = "",
        duration: int = 0,
        audience: Mapping[str, Any] | str | None = None,
        config: Mapping[str, Any] | str | None = None,
        leaderboard_id: str = "",
        metadata: Mapping[str, Any] | str | None = None,
        enabled: bool = True,
    ) -> LiveEvent:
        """Create an event live from `start_time` to `end_time` (Unix seconds); with `cron`, at
        each of its times from `start_time` (to `end_time`, 0: no end), for `duration` seconds.
        INVALID_ARGUMENT names the field that is wrong; nothing is stored then."""
        return await self._live.create(
            self._title.id, name=name, start_time=_ms("start_time", start_time),
            end_time=_ms("end_time", end_time), description=description, cron=cron or "",
            duration=duration, audience=audience or {}, config=config or {},
            leaderboard_id=leaderboard_id or "", metadata=metadata or {}, enabled=enabled,
        )  # fmt: skip

    async def live_event_update(
        self,
        id: str,
        *,
        name: str = _UNSET,
        start_time: float = _UNSET,
        end_time: float = _UNSET,
        description: str = _UNSET,
        cron: str = _UNSET,
        duration: int = _UNSET,
        audience: Mapping[str, Any] = _UNSET,
        config: Mapping[str, Any] = _UNSET,
        leaderboard_id: str = _UNSET,
        metadata: Mapping[str, Any] = _UNSET,
        enabled: bool = _UNSET,
    ) -> LiveEvent:
        """Change the given fields (times in Unix seconds); NOT_FOUND if there is no such event."""
        given = {
            "name": name, "start_time": start_time, "end_time": end_time, "description": description,
            "cron": cron, "duration": duration, "audience": audience, "config": config,
            "leaderboard_id": leaderboard_id, "metadata": metadata, "enabled": enabled,
        }  # fmt: skip
        fields = {k: v for k, v in given.items() if v is not _UNSET}
        for key in ("start_time", "end_time"):
            if key in fields:
                fields[key] = _ms(key, fields[key])
        return await self._live.update(self._title.id, id, **fields)

    async def live_event_delete(self, id: str) -> bool:
        """Delete an event; False if there was none."""
        return await self._live.delete(self._title.id, id)

    async def live_event_get(self, id: str) -> LiveEvent | None:
        return await self._live.get(self._title.id, id)

    async def live_event_list(self, user_id: str | None = None, window_sec: int = 7 * 24 * 3600,
                              limit: int = 20) -> list[LiveEvent] | list[Occurrence]:  # fmt: skip
        """Every event of the title; with `user_id`, the ones live or upcoming for that player
        (as `Occurrence`s: the event and its current or next start and end)."""
        if user_id is None:
            return await self._live.events(self._title.id)
        return await self._live.events_for(self._title.id, user_id, window_sec=window_sec, limit=limit)
