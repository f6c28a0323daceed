"""Guide 000's consumer with the mixin: not one chatwatch call for the connection's life."""

from __future__ import annotations

import logging

from channels.generic.websocket import AsyncWebsocketConsumer

import chatwatch
from chatwatch.integrations.channels import ChatwatchConsumerMixin

log = logging.getLogger("djproject.consumers")


class ChatConsumer(ChatwatchConsumerMixin, AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        turn = chatwatch.current_turn()
        assert turn is not None
        turn.llm_call("llama-3.3-70b-versatile", 10, 5, 20.0)
        log.info("message processed", extra={"session_id": turn.session_id, "chars": 2})
        if text_data and text_data.startswith("crash"):
            raise RuntimeError("consumer bug")
        if text_data == "bye":
            await self.close(code=4000)
            return
        await self.send(text_data="ok")
