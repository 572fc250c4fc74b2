"""The Twilio simulator ("dev phone"): a stand-in for Twilio's REST API and for people's phones.

It talks to the service only over HTTP (its webhooks), signing every request with Twilio's
real algorithm, so it never imports the crisis line app and can run in-process or on its own port.
"""

from crisisline.simulator.phone import (
    CallRecord,
    CallScript,
    Phone,
    ReceivedSMS,
    TranscriptEntry,
)
from crisisline.simulator.resources import (
    Recording,
    SimulatedCall,
    SimulatedMessage,
    TwilioApiError,
    WebhookRequest,
)
from crisisline.simulator.rest import create_simulator_app
from crisisline.simulator.simulator import HangUpOrder, NumberConfig, Simulator
from crisisline.simulator.transcript import format_call, format_transcript
from crisisline.simulator.transport import (
    FlaskClientTransport,
    RequestsTransport,
    WebhookDeliveryError,
    WebhookTransport,
    compute_signature,
)
from crisisline.simulator.twiml import TwimlError, TwimlNode, parse_twiml

__all__ = [
    "CallRecord",
    "CallScript",
    "FlaskClientTransport",
    "HangUpOrder",
    "NumberConfig",
    "Phone",
    "ReceivedSMS",
    "Recording",
    "RequestsTransport",
    "SimulatedCall",
    "SimulatedMessage",
    "Simulator",
    "TranscriptEntry",
    "TwilioApiError",
    "TwimlError",
    "TwimlNode",
    "WebhookDeliveryError",
    "WebhookRequest",
    "WebhookTransport",
    "compute_signature",
    "create_simulator_app",
    "format_call",
    "format_transcript",
    "parse_twiml",
]
