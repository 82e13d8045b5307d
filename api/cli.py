"""The ``cloudmart`` command."""

from __future__ import annotations

import logging

import typer
import uvicorn

from api.app import create_app
from infra.bootstrap import upgrade_database
from infra.settings import Settings

app = typer.Typer(
    help="CloudMart Sagas: an online bookstore's order flow as a saga, in two styles.", no_args_is_help=True
)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="log every saga step")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
) -> None:
    """Runs the HTTP API together with every service in one process (settings from CLOUDMART_*)."""
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


database = typer.Typer(help="The event stores' and read models' schemas.", no_args_is_help=True)
app.add_typer(database, name="db")


@database.command()
def upgrade() -> None:
    """Creates the schemas and tables the configured database lacks (idempotent; serve does it too)."""
    for line in upgrade_database(Settings()):
        typer.echo(line)
