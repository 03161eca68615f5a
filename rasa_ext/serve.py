"""`rasa run` (or `rasa shell`) with what must not be on a command line, from the environment.

    python -m rasa_ext.serve run --model ... --endpoints ...

- RASA_API_TOKEN: with it, Rasa's HTTP API is on and needs the token (`--enable-api
  --auth-token`). The token is added to Rasa's arguments inside this process, so `ps` and
  /proc/<pid>/cmdline never show it.
- RASA_MAX_REQUEST_BYTES (default 1 MiB): the largest request body Rasa's Sanic server accepts
  (Sanic's REQUEST_MAX_SIZE; Sanic's own default is 100 MB). A larger one gets 413.
"""
from __future__ import annotations

import os
import sys
from typing import List, Mapping

from settings import DEFAULTS


def rasa_arguments(argv: List[str], env: Mapping[str, str]) -> List[str]:
    """Rasa's arguments, with the API switched on when a token is set."""
    token = (env.get("RASA_API_TOKEN") or "").strip()
    if token and argv[:1] == ["run"]:
        return [*argv, "--enable-api", "--auth-token", token]
    return list(argv)


def main() -> None:
    os.environ["SANIC_REQUEST_MAX_SIZE"] = str(int(os.environ.get("RASA_MAX_REQUEST_BYTES") or DEFAULTS["RASA_MAX_REQUEST_BYTES"]))
    sys.argv = ["rasa", *rasa_arguments(sys.argv[1:], os.environ)]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
