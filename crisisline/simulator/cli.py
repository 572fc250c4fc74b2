"""`crisisline simulate`: play Twilio and phones against the crisis line, no Twilio account.

Every command takes its defaults from the settings the service reads (the environment, then a
`.env` file in the working directory): the account SID and token, the crisis number, the
service's URL and where the simulated Twilio API runs (TWILIO_API_BASE_URL).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import requests
from werkzeug.serving import make_server

from crisisline import phones
from crisisline.settings import Settings, SettingsError, load_settings
from crisisline.simulator.control import CONTROL_PREFIX, add_control_endpoints
from crisisline.simulator.phone import ANSWERS, AUTO, CallScript
from crisisline.simulator.rest import create_simulator_app
from crisisline.simulator.simulator import Simulator
from crisisline.simulator.transport import RequestsTransport

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PORT = 5055
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# How long `simulate sms` waits for the service's answer, and for the texts that follow it.
_QUIET_SECONDS = 2.0
_POLL_SECONDS = 0.2


@click.group("simulate")
def simulate() -> None:
    """Simulated Twilio and phones for trying the service without a Twilio account."""


def _settings() -> Settings:
    """The service's own settings, so the simulator agrees with it on every default."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _credentials(command: F) -> F:
    command = click.option(
        "--auth-token",
        help="Auth token the service checks signatures with [default: the service's "
        "TWILIO_AUTH_TOKEN].",
    )(command)
    return click.option(
        "--account-sid", help="Account SID [default: the service's TWILIO_ACCOUNT_SID]."
    )(command)


def _participant(command: F) -> F:
    command = click.option(
        "--simulator-url",
        help="The running `simulate serve` [default: TWILIO_API_BASE_URL when it is on this "
        f"machine, else http://127.0.0.1:{DEFAULT_PORT}].",
    )(command)
    command = click.option(
        "--service-url", help="The service's public base URL [default: PUBLIC_BASE_URL]."
    )(command)
    command = click.option(
        "--to", help="The crisis line number, any form [default: CRISIS_LINE_NUMBER]."
    )(command)
    command = click.option(
        "--from",
        "from_",
        required=True,
        help="The simulated phone's number, in any form the service accepts (07700 900201).",
    )(command)
    return _credentials(command)


def _staff_options(command: F, *, defaults: bool = True) -> F:
    command = click.option(
        "--answer",
        type=click.Choice(ANSWERS),
        default="answer" if defaults else None,
        show_default=defaults,
        help="How the phones the service calls respond.",
    )(command)
    return click.option(
        "--staff-press",
        default=AUTO if defaults else None,
        show_default=defaults,
        help="Keys those phones press at each prompt: `auto` presses what each prompt asks for "
        "(1 to accept a screened call, 4 to take an escalation call); or keys per prompt, "
        "comma-separated, where `auto` is allowed and an empty entry presses nothing.",
    )(command)


def _staff_overrides(command: F) -> F:
    """`simulate call`'s staff options: unset, the serving simulator's own behaviour holds."""
    return _staff_options(command, defaults=False)


def _serve_port(settings: Settings) -> int:
    """The port TWILIO_API_BASE_URL names on this machine, so the service finds the simulator."""
    parts = urlsplit(settings.twilio_api_base_url)
    if parts.scheme == "http" and parts.hostname in _LOOPBACK and parts.port:
        return parts.port
    return DEFAULT_PORT


@simulate.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=int,
    help=f"[default: the port of TWILIO_API_BASE_URL on this machine, else {DEFAULT_PORT}]",
)
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
    "--fail-deletions",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Answer this many of the first recording deletions with HTTP 500.",
)
@click.option(
    "--hang-deletions",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Hold this many of the first recording deletions for --hang-seconds, then delete.",
)
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
    port: int | None,
    interval: float,
    outage_seconds: float | None,
    outage_status: int,
    hang_requests: int,
    hang_seconds: float,
    fail_deletions: int,
    hang_deletions: int,
    delay_seconds: float,
    answer: str,
    staff_press: str,
    account_sid: str | None,
    auth_token: str | None,
) -> None:
    """Serve a simulated Twilio REST API; point TWILIO_API_BASE_URL at it."""
    settings = _settings()
    sim = Simulator(
        account_sid=account_sid or settings.twilio_account_sid,
        auth_token=auth_token or settings.twilio_auth_token,
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
    if fail_deletions:
        sim.fail_next_deletions(fail_deletions)
        click.echo(f"Injected: the next {fail_deletions} recording deletion(s) answer 500.")
    if hang_deletions:
        sim.hang_next_deletions(hang_deletions, hang_seconds)
        click.echo(
            f"Injected: the next {hang_deletions} recording deletion(s) hang {hang_seconds} s."
        )
    if delay_seconds:
        sim.slow_requests(delay_seconds)
        click.echo(f"Injected: every REST request is delayed {delay_seconds} s.")
    app = create_simulator_app(sim)
    add_control_endpoints(app, sim)
    try:
        server = make_server(host, port or _serve_port(settings), app, threaded=True)
    except OSError as exc:
        raise click.ClickException(f"cannot listen there: {exc}; choose another --port") from exc
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
@click.option(
    "--wait",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for the texts the service sends after a call nobody took.",
)
@_staff_overrides
@_participant
def call(
    press: tuple[str, ...],
    message: str | None,
    voice_path: str,
    wait: float,
    answer: str | None,
    staff_press: str | None,
    from_: str,
    to: str | None,
    service_url: str | None,
    simulator_url: str | None,
    account_sid: str | None,
    auth_token: str | None,
) -> None:
    """Call the crisis line as a participant and print what every phone heard."""
    target = _target(from_, to, service_url, simulator_url, account_sid, auth_token)
    voice = {
        "voice_url": target.service_url + voice_path,
        "voice_fallback_url": target.service_url + voice_path + "/fallback",
        "voice_status_callback": target.service_url + voice_path + "/status",
    }
    try:
        CallScript(press=press)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--press") from exc
    staff = None
    if answer is not None or staff_press is not None:
        staff = _staff_script(answer or "answer", AUTO if staff_press is None else staff_press)
    form: dict[str, Any] = {
        "from": target.caller,
        "to": target.line,
        "press": list(press),
        "message": message,
        **voice,
    }
    if staff is not None:
        form["staff_script"] = {
            "answer": staff.answer,
            "press": list(staff.press),
            "follow_prompts": staff.follow_prompts,
        }
    played = _through_serve(target, "call", form)
    if played is not None:
        click.echo(played["transcript"], nl=False)
        # A call nobody took is chased by texts to staff: wait for them. A connected call
        # sends none.
        awaited = None if played["connected"] else _to_someone_else(target)
        _print_texts(target, played["messages_mark"], awaited=awaited, wait=wait)
        return
    _say_in_process(target, "A voicemail link in a missed-call text will not play, because")
    sim = _in_process(target)
    sim.default_call_script = staff or _staff_script("answer", AUTO)
    sim.configure_number(target.line, **voice)
    sim.incoming_call(target.caller, target.line, script=CallScript(press=press, message=message))
    _report(sim)


@simulate.command("sms")
@click.argument("text")
@click.option("--sms-path", default="/webhooks/sms", show_default=True)
@click.option(
    "--wait",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for the reply this phone receives.",
)
@_participant
def sms(
    text: str,
    sms_path: str,
    wait: float,
    from_: str,
    to: str | None,
    service_url: str | None,
    simulator_url: str | None,
    account_sid: str | None,
    auth_token: str | None,
) -> None:
    """Text the crisis line from a phone (a participant's, or staff's) and print the reply."""
    target = _target(from_, to, service_url, simulator_url, account_sid, auth_token)
    urls = {
        "sms_url": target.service_url + sms_path,
        "sms_fallback_url": target.service_url + sms_path + "/fallback",
    }
    form = {"from": target.caller, "to": target.line, "body": text, **urls}
    played = _through_serve(target, "sms", form)
    if played is not None:
        click.echo(played["transcript"], nl=False)
        _print_texts(
            target,
            played["messages_mark"],
            awaited=lambda to, _body: to == target.caller,
            wait=wait,
        )
        return
    _say_in_process(target, "Texts the service sends later will not show here, because")
    sim = _in_process(target)
    sim.configure_number(target.line, **urls)
    sim.incoming_sms(target.caller, target.line, text)
    _report(sim)


@dataclass(frozen=True)
class _Target:
    """Where a participant command plays: numbers in E.164, the service and the simulator."""

    caller: str
    line: str
    service_url: str
    simulator_url: str
    account_sid: str
    auth_token: str


def _target(
    from_: str,
    to: str | None,
    service_url: str | None,
    simulator_url: str | None,
    account_sid: str | None,
    auth_token: str | None,
) -> _Target:
    settings = _settings()

    def number(raw: str, hint: str) -> str:
        try:
            return phones.normalise(raw, settings.default_region)
        except phones.InvalidPhoneNumber as exc:
            raise click.BadParameter(str(exc), param_hint=hint) from exc

    simulator = simulator_url or (
        settings.twilio_api_base_url
        if _is_local(settings.twilio_api_base_url)
        else f"http://127.0.0.1:{DEFAULT_PORT}"
    )
    return _Target(
        caller=number(from_, "--from"),
        line=number(to, "--to") if to else settings.crisis_line_number,
        service_url=(service_url or settings.public_base_url).rstrip("/"),
        simulator_url=simulator.rstrip("/"),
        account_sid=account_sid or settings.twilio_account_sid,
        auth_token=auth_token or settings.twilio_auth_token,
    )


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in _LOOPBACK


def _through_serve(target: _Target, kind: str, form: dict[str, Any]) -> dict[str, Any] | None:
    """Play through the running `simulate serve`; None when none is running there."""
    try:
        response = requests.post(
            f"{target.simulator_url}{CONTROL_PREFIX}/{kind}",
            json=form,
            auth=(target.account_sid, target.auth_token),
            timeout=120,
        )
    except requests.ConnectionError:
        return None
    if response.status_code == 401:
        raise click.ClickException(
            f"the simulator at {target.simulator_url} refused the account SID and auth token: "
            "give it and the service the same TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        )
    if response.status_code == 404:
        return None  # something else listens there: not a simulator
    if response.status_code != 200:
        raise click.ClickException(
            f"the simulator answered {response.status_code}: {response.text}"
        )
    played: dict[str, Any] = response.json()
    return played


def _print_texts(
    target: _Target, mark: int, *, awaited: Callable[[str, str], bool] | None, wait: float
) -> None:
    """Print the texts the service sends from now on, until it goes quiet or `wait` runs out.

    The service answers through its outbox a moment later, so the serving simulator is asked
    what reached which phone. `awaited(to, body)`: keep waiting (up to `wait`) for a text it
    accepts before a quiet spell may end it.
    """
    deadline = time.monotonic() + wait
    quiet_since = time.monotonic()
    arrived = awaited is None
    while time.monotonic() < deadline:
        try:
            response = requests.get(
                f"{target.simulator_url}{CONTROL_PREFIX}/messages",
                params={"after": mark},
                auth=(target.account_sid, target.auth_token),
                timeout=10,
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            raise click.ClickException(
                f"lost the simulator at {target.simulator_url} while waiting for texts: {exc}"
            ) from exc
        page = response.json()
        for message in page["messages"]:
            to = message["to"]
            whose = "this phone" if to == target.caller else to
            click.echo(f'SMS to {whose} from {message["from"]}: "{message["body"]}"')
            arrived = arrived or (awaited is not None and awaited(to, message["body"]))
            quiet_since = time.monotonic()
        mark = page["mark"]
        if arrived and time.monotonic() - quiet_since >= _QUIET_SECONDS:
            return
        time.sleep(_POLL_SECONDS)
    if not arrived:
        click.echo(
            f"(not everything expected arrived within {wait:g} s; the `simulate serve` terminal "
            "shows what arrives later)"
        )


def _to_someone_else(target: _Target) -> Callable[[str, str], bool]:
    return lambda to, _body: to != target.caller


def _say_in_process(target: _Target, consequence: str) -> None:
    click.echo(
        f"No `crisisline simulate serve` at {target.simulator_url}: playing it in this process. "
        f"{consequence} the service sends through the simulator it is configured with "
        "(TWILIO_API_BASE_URL), not this one-off.",
        err=True,
    )


def _in_process(target: _Target) -> Simulator:
    return Simulator(
        account_sid=target.account_sid,
        auth_token=target.auth_token,
        transport=RequestsTransport(),
    )


def _staff_script(answer: str, staff_press: str) -> CallScript:
    if staff_press.strip() == AUTO:
        return CallScript(answer=answer, follow_prompts=True)  # type: ignore[arg-type]
    presses = tuple(keys.strip() for keys in staff_press.split(",")) if staff_press else ()
    try:
        return CallScript(answer=answer, press=presses)  # type: ignore[arg-type]  # Choice-checked
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--staff-press") from exc


def _report(sim: Simulator) -> None:
    sim.run_pending()
    click.echo(sim.transcript(), nl=False)
    if sim.errors:
        click.echo("\nProblems Twilio would have logged:", err=True)
        for error in sim.errors:
            click.echo(f"  {error}", err=True)
        raise SystemExit(1)
