"""`crisisline simulate`: play Twilio and phones against the crisis line, no Twilio account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from werkzeug.serving import make_server

from crisisline.simulator.phone import ANSWERS, CallScript
from crisisline.simulator.rest import create_simulator_app
from crisisline.simulator.simulator import Simulator
from crisisline.simulator.transport import RequestsTransport

F = TypeVar("F", bound=Callable[..., Any])


@click.group("simulate")
def simulate() -> None:
    """Simulated Twilio and phones for trying the service without a Twilio account."""


def _credentials(command: F) -> F:
    command = click.option(
        "--auth-token",
        envvar="TWILIO_AUTH_TOKEN",
        required=True,
        help="Auth token the service checks signatures with [env TWILIO_AUTH_TOKEN].",
    )(command)
    return click.option(
        "--account-sid",
        envvar="TWILIO_ACCOUNT_SID",
        required=True,
        help="Account SID [env TWILIO_ACCOUNT_SID].",
    )(command)


def _participant(command: F) -> F:
    command = click.option(
        "--service-url",
        envvar="PUBLIC_BASE_URL",
        required=True,
        help="The service's public base URL [env PUBLIC_BASE_URL].",
    )(command)
    command = click.option(
        "--to",
        envvar="CRISIS_LINE_NUMBER",
        required=True,
        help="The crisis line number [env CRISIS_LINE_NUMBER].",
    )(command)
    command = click.option(
        "--from", "from_", required=True, help="The simulated participant's number (E.164)."
    )(command)
    return _credentials(command)


def _staff_options(command: F) -> F:
    command = click.option(
        "--answer",
        type=click.Choice(ANSWERS),
        default="answer",
        show_default=True,
        help="How the phones the service calls respond.",
    )(command)
    return click.option(
        "--staff-press",
        default="1",
        show_default=True,
        help="Keys those phones press at each prompt (comma-separated, one entry per prompt).",
    )(command)


@simulate.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5055, show_default=True, type=int)
@click.option("--interval", default=0.5, show_default=True, help="Seconds between callback runs.")
@click.option(
    "--outage-seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Answer every REST request with --outage-status for this long from start-up.",
)
@click.option("--outage-status", default=500, show_default=True, type=click.IntRange(400, 599))
@click.option(
    "--hang-requests",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Hold this many of the first REST requests for --hang-seconds before answering.",
)
@click.option("--hang-seconds", default=30.0, show_default=True, type=click.FloatRange(min=0))
@click.option(
    "--delay-seconds",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Delay every REST request by this long (a slow provider).",
)
@_staff_options
@_credentials
def serve(
    host: str,
    port: int,
    interval: float,
    outage_seconds: float | None,
    outage_status: int,
    hang_requests: int,
    hang_seconds: float,
    delay_seconds: float,
    answer: str,
    staff_press: str,
    account_sid: str,
    auth_token: str,
) -> None:
    """Serve a simulated Twilio REST API; point TWILIO_API_BASE_URL at it."""
    sim = Simulator(
        account_sid=account_sid,
        auth_token=auth_token,
        transport=RequestsTransport(),
        on_activity=click.echo,
    )
    sim.default_call_script = _staff_script(answer, staff_press)
    if outage_seconds is not None:
        sim.outage(status=outage_status, seconds=outage_seconds)
        click.echo(f"Injected: every REST request answers {outage_status} for {outage_seconds} s.")
    if hang_requests:
        sim.hang_next_requests(hang_requests, hang_seconds)
        click.echo(f"Injected: the next {hang_requests} REST request(s) hang {hang_seconds} s.")
    if delay_seconds:
        sim.slow_requests(delay_seconds)
        click.echo(f"Injected: every REST request is delayed {delay_seconds} s.")
    server = make_server(host, port, create_simulator_app(sim), threaded=True)
    stop = sim.run_in_background(interval)
    click.echo(f"Simulated Twilio API at http://{host}:{server.port}; Ctrl-C to stop.")
    click.echo(f"Set TWILIO_API_BASE_URL=http://{host}:{server.port} on the service.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        server.server_close()


@simulate.command("call")
@click.option(
    "--press",
    multiple=True,
    help="Keys the caller presses at the next prompt; repeat for later prompts.",
)
@click.option("--message", help="What the caller says if asked to leave a message.")
@click.option("--voice-path", default="/webhooks/voice", show_default=True)
@_staff_options
@_participant
def call(
    press: tuple[str, ...],
    message: str | None,
    voice_path: str,
    answer: str,
    staff_press: str,
    from_: str,
    to: str,
    service_url: str,
    account_sid: str,
    auth_token: str,
) -> None:
    """Call the crisis line as a participant and print what every phone heard."""
    sim = _participant_simulator(account_sid, auth_token)
    sim.default_call_script = _staff_script(answer, staff_press)
    base = service_url.rstrip("/")
    try:
        sim.configure_number(
            to,
            voice_url=base + voice_path,
            voice_fallback_url=base + voice_path + "/fallback",
            voice_status_callback=base + voice_path + "/status",
        )
        sim.incoming_call(from_, to, script=CallScript(press=press, message=message))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    _report(sim)


@simulate.command("sms")
@click.argument("text")
@click.option("--sms-path", default="/webhooks/sms", show_default=True)
@_participant
def sms(
    text: str,
    sms_path: str,
    from_: str,
    to: str,
    service_url: str,
    account_sid: str,
    auth_token: str,
) -> None:
    """Text the crisis line as a participant and print any reply."""
    sim = _participant_simulator(account_sid, auth_token)
    base = service_url.rstrip("/")
    try:
        sim.configure_number(
            to, sms_url=base + sms_path, sms_fallback_url=base + sms_path + "/fallback"
        )
        sim.incoming_sms(from_, to, text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    _report(sim)


def _participant_simulator(account_sid: str, auth_token: str) -> Simulator:
    return Simulator(account_sid=account_sid, auth_token=auth_token, transport=RequestsTransport())


def _staff_script(answer: str, staff_press: str) -> CallScript:
    presses = tuple(keys.strip() for keys in staff_press.split(",")) if staff_press else ()
    return CallScript(answer=answer, press=presses)  # type: ignore[arg-type]  # Choice-checked


def _report(sim: Simulator) -> None:
    sim.run_pending()
    click.echo(sim.transcript(), nl=False)
    if sim.errors:
        click.echo("\nProblems Twilio would have logged:", err=True)
        for error in sim.errors:
            click.echo(f"  {error}", err=True)
        raise SystemExit(1)
