"""The `crisisline` program: Flask's CLI on the app the factory builds (with the service's own
commands, crisisline.commands), `run` for local use and the Twilio simulator."""

from __future__ import annotations

import socket

import click
from flask.cli import FlaskGroup, ScriptInfo, pass_script_info
from werkzeug.serving import run_simple

from crisisline.app import create_app
from crisisline.jobs import Jobs, scheduler_name
from crisisline.services import services


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, envvar="PORT", help="Or set PORT.")
@click.option(
    "--scheduler/--no-scheduler",
    default=True,
    show_default=True,
    help="Run the scheduler in this process too (the local default).",
)
@pass_script_info
def run_command(info: ScriptInfo, host: str, port: int, scheduler: bool) -> None:
    """Serve the web app (and by default the scheduler) in one process, for local use."""
    _check_port_free(host, port)
    app = info.load_app()
    if scheduler:
        with app.app_context():
            running = Jobs(services()).start_scheduler(scheduler_name(), background=True)
        running.start()
        click.echo("Scheduler running in this process.")
    click.echo(f"Crisis line serving at http://{host}:{port}")
    # The reloader would start a second process with a second scheduler; keep one.
    run_simple(host, port, app, use_reloader=False, threaded=True)


def _check_port_free(host: str, port: int) -> None:
    """Stop with a plain instruction, before anything starts, when `port` is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise click.ClickException(
                f"port {port} on {host} is already in use ({error.strerror}): another crisis "
                f"line or program is serving there. Stop it, or choose another port, for "
                f"example `PORT={port + 50} make run` (or `crisisline run --port {port + 50}`)."
            ) from None


main = FlaskGroup(
    name="crisisline",
    create_app=create_app,
    help="The Resettle crisis line service. Settings come from the environment and .env.",
)


def _add_simulator(group: click.Group) -> None:
    # The simulator stands in for Twilio and must work even when the app's own settings do
    # not load (it never touches the service's database), so it hangs off the root command.
    from crisisline.simulator.cli import simulate

    group.add_command(simulate)


_add_simulator(main)
# Replaces Flask's development `run`: ours starts the scheduler alongside and never reloads.
main.add_command(run_command)
