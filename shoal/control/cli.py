"""The ``shoal`` command: serve, tokens, images.

This is the one module that wires every layer together, the web apps
included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import uvicorn

from shoal.control import catalogue, tokens
from shoal.control.config import Settings
from shoal.control.db import Database, upgrade

log = logging.getLogger("shoal")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "state_dir", None):
        overrides["state_dir"] = Path(args.state_dir)
    if getattr(args, "listen", None):
        overrides["listen"] = args.listen
    if getattr(args, "config", None):
        os.environ["SHOAL_CONFIG"] = args.config
    return Settings(**overrides)


def _database(settings: Settings) -> Database:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    upgrade(db.engine)
    return db


def cmd_token_create(args: argparse.Namespace) -> int:
    db = _database(_settings(args))
    scopes = ("read",) if args.read_only else tokens.SCOPES
    with db.transaction() as session:
        plain = tokens.create_token(session, args.name, scopes)
    print(plain)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    db = _database(_settings(args))
    with db.transaction() as session:
        for token in tokens.list_tokens(session):
            state = "revoked" if token.revoked_at else "active"
            print(f"{token.id}\t{token.name}\t{token.scopes}\t{state}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    db = _database(_settings(args))
    with db.transaction() as session:
        tokens.revoke_token(session, args.id)
    return 0


def cmd_image_build(args: argparse.Namespace) -> int:
    from shoal.images.builder import build_image

    settings = _settings(args)
    path = build_image(args.slug, settings.image_cache_dir)
    db = _database(settings)
    with db.transaction() as session:
        image = catalogue.register_image(session, args.slug, path)
        print(f"{image.id}\t{image.slug}\t{path}")
    return 0


def _virt_type(settings: Settings) -> str:
    from shoal.hypervisor.accel import choose_virt_type
    from shoal.images.probe_kit import probe_kit

    return choose_virt_type(
        settings.virt_type,
        lambda: probe_kit(settings.probe_cache_dir),
        settings.state_dir / "virt-type.json",
    )


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        # Signals are handled once for all servers by _serve_all.
        yield


def _serve_all(servers) -> None:
    """Run the servers until SIGTERM or SIGINT stops all of them together.

    Each uvicorn server would take the signal handlers for itself, and only
    the last one started would hear them, so they share one handler here.
    """

    def stop(_signum, _frame) -> None:
        for server, _ in servers:
            server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)

    async def serve() -> None:
        await asyncio.gather(*(server.serve(sockets) for server, sockets in servers))

    asyncio.run(serve())


def _metadata_server(settings: Settings, db: Database):
    from shoal.api.metadata import create_metadata_app
    from shoal.control.metadata import MetadataSource
    from shoal.hypervisor import hostnet

    bridge = settings.network.bridge
    hostnet.ensure_address(bridge, f"{settings.metadata_address}/16")
    sock = hostnet.device_socket(
        bridge, settings.metadata_address, settings.metadata_port
    )
    app = create_metadata_app(MetadataSource(db, settings))
    config = uvicorn.Config(app, log_config=None, access_log=False)
    return _Server(config), [sock]


def cmd_serve(args: argparse.Namespace) -> int:
    from shoal.api.app import Services, create_app
    from shoal.control.engine import Engine
    from shoal.control.provision import Provisioner
    from shoal.hypervisor.connection import Host

    settings = _settings(args)
    db = _database(settings)
    provisioner = Provisioner(
        settings, Host(settings.libvirt_uri), _virt_type(settings)
    )
    provisioner.prepare_host()
    engine = Engine(db, settings, provisioner)
    engine.start()

    host, port = _split_listen(settings.listen)
    api = create_app(Services(settings=settings, db=db, wake_engine=engine.wake))
    config = uvicorn.Config(api, host=host, port=port, log_config=None)
    servers = [(_Server(config), None)]

    try:
        servers.append(_metadata_server(settings, db))
    except (OSError, subprocess.CalledProcessError) as exc:
        log.warning("metadata service not started error=%s", exc)

    log.info(
        "shoal serving listen=%s virt_type=%s", settings.listen, provisioner.virt_type
    )
    try:
        _serve_all(servers)
    finally:
        engine.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", help="state directory (default /var/lib/shoal)")
    common.add_argument("--config", help="YAML settings file")

    parser = argparse.ArgumentParser(prog="shoal", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", parents=[common], help="run API, engine, metadata"
    )
    serve.add_argument(
        "--listen", help="HOST:PORT for the API (default 127.0.0.1:8080)"
    )
    serve.set_defaults(func=cmd_serve)

    token = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", parents=[common], help="print a new token")
    create.add_argument("--name", default="default")
    create.add_argument("--read-only", action="store_true", help="read scope only")
    create.set_defaults(func=cmd_token_create)
    listing = token.add_parser("list", parents=[common], help="list tokens")
    listing.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", parents=[common], help="revoke a token")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_token_revoke)

    image = commands.add_parser("image", help="images").add_subparsers(
        dest="image_command", required=True
    )
    build = image.add_parser("build", parents=[common], help="build and register")
    build.add_argument("slug", nargs="?", default="debian-12-x64")
    build.set_defaults(func=cmd_image_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("SHOAL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
