"""``python -m provider_sim``: run the Amadeus stand-in until SIGTERM/SIGINT.

    SIM_CLIENTS=skyroute:s3cret python -m provider_sim --host 127.0.0.1 --port 8081 \\
        [--port-file PATH] [--token-ttl 1799] [--inventory-seed 7]

Exit status: 0 after a clean shutdown, 2 on bad configuration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from provider_sim.access_log import configure_logging
from provider_sim.server import serve
from provider_sim.settings import SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    try:
        settings = load_settings(sys.argv[1:] if argv is None else argv, os.environ)
    except SettingsError as exc:
        logging.getLogger("provider_sim").error("bad configuration: %s", exc)
        return 2
    logging.getLogger().setLevel(settings.log_level)
    _run(serve(settings))
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop when it is installed (the pinned requirements install it), as the
    services run: the stand-in shares the machine with them in tests and benchmarks, so
    its CPU per call counts there. ``SKYROUTE_EVENT_LOOP=asyncio`` asks for asyncio's
    own loop, as it does for the services (services/event_loop.py; the stand-in keeps
    no import of the services' code)."""
    if os.environ.get("SKYROUTE_EVENT_LOOP", "").strip().lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


if __name__ == "__main__":
    sys.exit(main())
