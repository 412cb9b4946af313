"""What every `heterdaad` command needs: validated settings and a stop event for signals."""

from __future__ import annotations

import asyncio
import signal

import typer

from heterdaad import logs
from heterdaad.settings import Settings, get_settings


def validated_settings() -> Settings:
    """Settings validated at start-up: a bad value stops the command with a clear message."""
    try:
        settings = get_settings()
    except Exception as error:  # pydantic's ValidationError names every bad variable
        typer.echo(f"heterdaad: invalid settings:\n{error}", err=True)
        raise typer.Exit(2) from error
    logs.configure(settings.log_level, settings.log_format)
    return settings


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, so `async with` blocks stop their clients cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
