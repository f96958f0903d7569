"""`python -m crm_console serve`: the web console (no database, nothing to migrate)."""

import argparse

import uvicorn

from crm_console.config import ConsoleSettings
from crm_console.entrypoints.app import build_app
from crm_runtime.logs import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(prog="console")
    parser.add_argument("command", choices=["serve", "migrate"], help="serve the console (`migrate` has nothing to do)")
    args = parser.parse_args()
    if args.command == "migrate":
        return
    settings = ConsoleSettings()
    configure_logging(settings.service_name, settings.log_level)
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_keep_alive=settings.http_keep_alive_s,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
