"""``serve`` (MCP over Streamable HTTP + the Go README's JSON-RPC) and ``mcp`` (MCP over stdio)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

import click

from vectormigrate.cli._app import err_console, handle_errors, state_db_option
from vectormigrate.errors import ConfigError

__all__ = ["mcp_cmd", "parse_addr", "serve"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def _need_server_extra() -> None:
    try:
        import mcp  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        msg = f"the server needs a package that is not installed ({exc.name})"
        raise ConfigError(msg, hint="pip install 'vectormigrate[server]'") from exc


def parse_addr(addr: str) -> tuple[str, int]:
    """``:8080`` -> (127.0.0.1, 8080); ``0.0.0.0:8080``; ``[::1]:8080``; ``8080``."""
    text = addr.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
    else:
        host, port_text = "", text
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        msg = f"--addr {addr!r} is not HOST:PORT"
        raise ConfigError(msg, hint="use --addr :8080 (localhost) or --addr 0.0.0.0:8080 (every interface)")
    return host or "127.0.0.1", int(port_text)


def _allowed_hosts(host: str, given: tuple[str, ...]) -> list[str] | None:
    entries = [h.strip() for item in given for h in item.split(",") if h.strip()]
    if entries:
        return entries
    if host in _LOOPBACK:
        return list(_LOOPBACK_HOSTS)
    if host in ("0.0.0.0", "::"):  # noqa: S104 - the user asked for every interface
        err_console.print("[yellow]warning:[/] listening on every interface and accepting any Host header; pass "
                          "--allowed-hosts NAME[,NAME] with the names clients use, to block DNS rebinding")
        return None
    return [f"[{host}]" if ":" in host else host, *_LOOPBACK_HOSTS]


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.command()
@click.option("--addr", default=":8080", show_default=True,
              help="HOST:PORT to listen on; ':8080' is localhost only, '0.0.0.0:8080' every interface.")
@click.option("--api-key", "api_keys", multiple=True, metavar="KEY",
              help="Accepted bearer key (repeatable). Also $VECTORMIGRATE_API_KEYS (comma list) and --keys-file.")
@click.option("--keys-file", type=click.Path(dir_okay=False), default=None,
              help="File with one accepted key per line ('#' comments); must be chmod 600.")
@click.option("--rate-limit", default=100, show_default=True, help="Requests per minute per key (0: no limit).")
@click.option("--rate-limit-keys", default=10_000, show_default=True,
              help="Most keys/clients the rate limiter tracks (least recently seen are forgotten).")
@click.option("--audit-log", default="-", show_default=True,
              help="JSON-lines audit file ('-': stderr, '': off).")
@click.option("--allowed-hosts", multiple=True, metavar="HOST[,HOST]",
              help="Host header values to answer (default: localhost names, plus the --addr host); '*' for any.")
@click.option("--max-body-bytes", default=1024 * 1024, show_default=True, help="Largest request body accepted.")
@click.option("--max-jobs", default=4, show_default=True, help="Migrations that may run at once in this server.")
@click.option("--resume-interrupted", is_flag=True, help="On start, resume migrations a dead process left in "
              "progress (keys from $VECTORMIGRATE_SOURCE_API_KEY / _TARGET_), instead of marking them interrupted.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
              show_default=True)
@state_db_option
@handle_errors()
def serve(addr: str, api_keys: tuple[str, ...], keys_file: str | None, rate_limit: int, rate_limit_keys: int,
          audit_log: str, allowed_hosts: tuple[str, ...], max_body_bytes: int, max_jobs: int,
          resume_interrupted: bool, log_level: str, state_db: str | None) -> None:
    """Serve MCP (Streamable HTTP, at / and /mcp) and the Go README's JSON-RPC calls, with bearer keys.

    Also /healthz, /readyz and /metrics (Prometheus). Stop with Ctrl-C or SIGTERM: running migrations stop
    gracefully at a checkpoint, and `resume_migration` continues them.
    """
    _need_server_extra()
    import uvicorn

    from vectormigrate.server.app import ServerSettings, build_app
    from vectormigrate.server.auth import MIN_RECOMMENDED_LENGTH, KeyRing, load_keys
    from vectormigrate.server.mcp_app import build_mcp, make_services

    _logging(log_level)
    host, port = parse_addr(addr)
    keys = load_keys(api_keys, os.environ.get("VECTORMIGRATE_API_KEYS"), keys_file)
    if not keys:
        msg = "the server needs at least one API key"
        raise ConfigError(msg, hint="pass --api-key KEY, set VECTORMIGRATE_API_KEYS=key1,key2, or --keys-file PATH")
    if any(len(k) < MIN_RECOMMENDED_LENGTH for k in keys):
        err_console.print(f"[yellow]warning:[/] an API key is shorter than {MIN_RECOMMENDED_LENGTH} characters; "
                          "use long random keys (e.g. `openssl rand -hex 32`)")
    if rate_limit < 0 or rate_limit_keys < 1 or max_body_bytes < 1024 or max_jobs < 1:
        msg = "--rate-limit must be >= 0, --rate-limit-keys and --max-jobs >= 1, --max-body-bytes >= 1024"
        raise ConfigError(msg, hint="see `vectormigrate serve --help`")
    ring = KeyRing(keys)
    del keys
    settings = ServerSettings(ring, rate_limit=rate_limit, rate_limit_max_keys=rate_limit_keys,
                              allowed_hosts=_allowed_hosts(host, allowed_hosts), max_body=max_body_bytes)
    services = make_services(state_db, audit_log=audit_log or None, max_jobs=max_jobs)
    for mid, action in services.jobs.reconcile(resume_interrupted).items():
        err_console.print(f"startup: migration {mid}: {action}")
    app = build_app(services, build_mcp(services), settings)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(f"vectormigrate serve: MCP (Streamable HTTP) and JSON-RPC on http://{shown}:{port}/ (also "
                      f"/mcp); {len(ring)} key(s); {rate_limit or 'no'} requests/min per key; hosts: "
                      f"{settings.hosts.describe()}; state db {services.store.path}", soft_wrap=True)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10, server_header=False, proxy_headers=False)
    try:
        uvicorn.Server(config).run()
    finally:
        services.audit.close()


@click.command(name="mcp")
@click.option("--audit-log", default="", help="JSON-lines audit file ('-': stderr; default: off).")
@click.option("--max-jobs", default=4, show_default=True, help="Migrations that may run at once in this server.")
@click.option("--resume-interrupted", is_flag=True, help="On start, resume migrations a dead process left in "
              "progress (keys from $VECTORMIGRATE_SOURCE_API_KEY / _TARGET_).")
@state_db_option
@handle_errors()
def mcp_cmd(audit_log: str, max_jobs: int, resume_interrupted: bool, state_db: str | None) -> None:
    """Serve MCP over stdio, for desktop assistants (stdout carries only MCP messages; logs go to stderr).

    Database keys come from the tool arguments or $VECTORMIGRATE_SOURCE_API_KEY / $VECTORMIGRATE_TARGET_API_KEY.
    When the client closes the connection, running migrations stop gracefully at a checkpoint.
    """
    _need_server_extra()
    from vectormigrate.server.mcp_app import make_services, run_stdio

    _logging("warning")
    services = make_services(state_db, audit_log=audit_log or None, max_jobs=max_jobs)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # A client that closed stdin escalates to SIGTERM after ~2 s; stdin's reader thread cannot be
        # interrupted, so stop the migrations here (at a checkpoint) and leave at once.
        services.jobs.shutdown(timeout=10.0)
        services.audit.close()
        _fast_exit()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        run_stdio(services, resume_interrupted=resume_interrupted)
    finally:
        services.audit.close()
        services.store.close()
    _fast_exit()


def _fast_exit() -> None:
    """Exit as soon as the client has gone: run the atexit handlers (SDK cleanup, logging), flush, and skip
    the interpreter's module teardown, which takes seconds once every database SDK is imported. MCP clients
    wait only ~2 s after closing stdin before they send SIGTERM."""
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
