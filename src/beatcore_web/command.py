"""``celery -A proj beatcore web``: serve the dashboard and its JSON API over beat's store.

The verb joins ``celery beatcore`` through the ``beatcore_cli_commands`` hook (see
:mod:`beatcore_web.plugin`); the web libraries are imported only when it runs, so the rest
of the CLI works without the ``web`` extra.
"""

from __future__ import annotations

import click

from beatcore.cli import Session, pass_session
from beatcore.errors import MissingExtra
from beatcore.urls import mask_password
from beatcore_web.config import WebConfig, check_bind

#: The port the dashboard listens on unless told otherwise.
DEFAULT_PORT = 8321


@click.command("web")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; beyond this machine only with authentication "
    "(beatcore_web_token, or beatcore_web_username and beatcore_web_password).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free one).",
)
@click.option("--read-only", is_flag=True, help="Hide and refuse every change.")
@pass_session
def web(session: Session, host: str, port: int, read_only: bool) -> None:
    """Serve the web dashboard and JSON API of the schedule (the 'web' extra).

    Opens the store beat uses (it must exist: beat creates it at its first start) and
    serves until interrupted. /healthz answers HTTP probes without authentication.
    """
    config = WebConfig.from_settings(
        session.app.conf, read_only=read_only, overdue_after=session.settings.missed_threshold
    )
    check_bind(host, config)
    try:
        import uvicorn

        from beatcore_web.app import create_app
    except ImportError as exc:
        raise MissingExtra("web", "celery beatcore web", exc.name) from None
    store = session.existing_store
    app = create_app(
        store,
        config=config,
        plugins=session.plugins,
        clock=session.clock,
        default_tz=session.default_tz,
        lock_ttl=session.settings.lock_ttl,
        celery_app=session.app,
    )
    mode = " (read-only)" if read_only else ""
    click.echo(f"beatcore web: serving {mask_password(store.url)} on http://{host}:{port}/{mode}")
    uvicorn.run(
        app, host=host, port=port, log_level="info", server_header=False, proxy_headers=False
    )
