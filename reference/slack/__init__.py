"""The Slack stand-in: a real HTTP server that speaks the Slack Web API to the bot and acts as Slack towards it.

``SlackStandIn`` (``server``) is assembled from one part per side of Slack: the Web API (``web_api``,
``methods``), response_urls (``responses``), Socket Mode (``socket_mode``), what a person does
(``interactions``, ``modals``) and fault injection (``faults``); its state is plain dataclasses (``state``) and messages
and views are checked as Slack checks them (``blocks``, with Block Kit's limits in ``blockkit``).

Strict by default, as Slack is: a trigger_id works once within ``trigger_seconds`` (3) of the request that carried it,
a response_url takes ``response_url_uses`` (5) posts within ``response_url_seconds`` (1800), and an event not
acknowledged 2xx within ``ack_timeout`` is delivered again after each of ``event_retry_delays`` (0, 60, 300 s). A
test may scale these clocks (constructor options) so it runs in seconds; none switches a rule off.
"""

from reference.slack.blocks import ApiError
from reference.slack.rates import RateRules
from reference.slack.responses import Origin
from reference.slack.server import SlackStandIn
from reference.slack.state import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_CHANNELS,
    DEFAULT_USERGROUPS,
    DEFAULT_USERS,
    SANDBOX_USER_ID,
    ActionResult,
    Call,
    Channel,
    CommandResult,
    Ephemeral,
    InteractionResult,
    Message,
    ResponsePost,
    User,
    View,
)

__all__ = [
    "RateRules",
    "SlackStandIn",
    "Origin",
    "Call",
    "Message",
    "Ephemeral",
    "Channel",
    "View",
    "User",
    "ResponsePost",
    "InteractionResult",
    "CommandResult",
    "ActionResult",
    "ApiError",
    "DEFAULT_USERS",
    "DEFAULT_USERGROUPS",
    "DEFAULT_CHANNELS",
    "BOT_USER_ID",
    "BOT_ID",
    "APP_ID",
    "SANDBOX_USER_ID",
]
