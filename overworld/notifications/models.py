"""Notifications as the service sends and lists them."""

from __future__ import annotations

from dataclasses import dataclass

from overworld.clock import rfc3339
from overworld.protocol import realtime as rt


@dataclass(slots=True)
class Notification:
    id: str
    user_id: str
    subject: str
    content: str  # a JSON object
    code: int
    sender_id: str = ""
    create_time: int = 0
    persistent: bool = True

    def wire(self) -> rt.Notification:
        return rt.Notification(
            id=self.id, subject=self.subject, content=self.content, code=self.code,
            sender_id=self.sender_id, create_time=rfc3339(self.create_time), persistent=self.persistent,
        )  # fmt: skip
