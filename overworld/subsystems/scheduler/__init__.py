from overworld.subsystems.scheduler.base import JobFunction, Scheduler
from overworld.subsystems.scheduler.cron import Cron, CronError, parse_cron
from overworld.subsystems.scheduler.embedded import EmbeddedScheduler

__all__ = ["Cron", "CronError", "EmbeddedScheduler", "JobFunction", "Scheduler", "parse_cron"]
