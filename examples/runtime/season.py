"""A cron job: a new season starts every Monday at 00:00 UTC.

The job runs once per scheduled time across a cluster. It still records the time its season
started, so that running it twice for the same time (say, by hand) changes nothing.
"""

import json

from overworld.runtime import CronContext, InitContext, Initializer, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.cron("new_season", "0 0 * * MON")
    async def new_season(job: CronContext, nk: ServerApi) -> None:
        found = await nk.storage_read([{"collection": "seasons", "key": "current"}])
        season = json.loads(found[0].value) if found else {"number": 0, "started": 0}
        if season["started"] >= job.scheduled_time:
            return  # this season has begun already
        number = season["number"] + 1
        await nk.storage_write(
            [
                {
                    "collection": "seasons",
                    "key": "current",
                    "value": {"number": number, "started": job.scheduled_time},
                    "version": found[0].version if found else "*",  # only if nobody changed it
                    "permission_read": 2,  # everyone can read it
                    "permission_write": 0,
                }
            ]
        )
        nk.logger.info("new season", number=number)
