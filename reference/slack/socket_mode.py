"""Socket Mode, Slack's side: the websocket the app connects to, envelopes and their acks."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)


class SocketMode:
    """Part of ``SlackStandIn``: the Socket Mode server."""

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket")
        if ticket not in self._socket_tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._emit("socket_connected", connections=len(self._sockets))
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "sandbox-socket", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    log.warning("socket: non-JSON message from app: %r", msg.data)
                    continue
                env_id = data.get("envelope_id") if isinstance(data, dict) else None
                fut = self._pending_acks.get(env_id) if env_id else None
                if fut is not None and not fut.done():
                    fut.set_result(data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._emit("socket_disconnected", connections=len(self._sockets))
        return ws

    @property
    def socket_connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    async def wait_for_socket(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda s: s.socket_connected, timeout=timeout)

    async def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message (the app should reconnect) and close."""
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "sandbox-socket"}})
        await self._close_sockets()

    async def _send_envelope(
        self, type_: str, payload: dict, retry_attempt: int = 0, retry_reason: str = ""
    ) -> tuple[str, dict | None, str | None]:
        ws = next((w for w in reversed(self._sockets) if not w.closed), None)
        if ws is None:
            raise RuntimeError("no Socket Mode connection: start the app's socket mode handler first")
        env_id = str(uuid.uuid4())
        fut = asyncio.get_running_loop().create_future()
        self._pending_acks[env_id] = fut
        try:
            await ws.send_json(
                {
                    "envelope_id": env_id,
                    "type": type_,
                    "payload": payload,
                    "accepts_response_payload": type_ != "events_api",
                    "retry_attempt": retry_attempt,
                    "retry_reason": retry_reason,
                }
            )
            try:
                ack = await asyncio.wait_for(fut, self.ack_timeout)
            except asyncio.TimeoutError:
                return env_id, None, "operation_timeout"
            return env_id, ack, None
        finally:
            self._pending_acks.pop(env_id, None)
