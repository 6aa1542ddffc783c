"""The gateway container's health check: `python -m gateway.probe` asks this host's gunicorn for
/readyz, as the load balancer would, and exits 0 on 200, 1 with the reason otherwise.

It sends the Host of BASE_URL: with TRUSTED_HOSTS set, a probe by address (127.0.0.1) would
get 400 and mark a healthy gateway unhealthy.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from shared.config import positive_number, settings_or_exit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="where gunicorn listens in this container")
    parser.add_argument(
        "--path",
        choices=("/readyz", "/healthz"),
        default="/readyz",
        help="/readyz (database and Redis) or /healthz (the process)",
    )
    parser.add_argument("--timeout", type=positive_number, default=3.0)
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not a port (1 to 65535)")
    host = urlsplit(settings_or_exit().base_url).netloc
    request = urllib.request.Request(f"http://127.0.0.1:{args.port}{args.path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as answer:
            print(f"healthy: {args.path} answered {answer.status}")
            return 0
    except urllib.error.HTTPError as error:
        reason = f"{args.path} answered {error.code}: {error.read(500).decode(errors='replace').strip()}"
    except (urllib.error.URLError, OSError) as error:
        reason = f"no answer on port {args.port}: {getattr(error, 'reason', error)}"
    print(f"unhealthy: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
