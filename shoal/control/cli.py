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


def cmd_image_pull(args: argparse.Namespace) -> int:
    from shoal.control.progress_bar import download_bar
    from shoal.images import pull
    from shoal.images.distributions import lookup
    from shoal.images.errors import ImageError

    settings = _settings(args)
    db = _database(settings)
    entries = catalogue.catalogue_of(settings)
    try:
        entry = lookup(entries, args.slug)
        with download_bar(entry.slug) as progress:
            path = pull.pull(
                entry, settings.image_cache_dir, settings.images.limits(), progress
            )
    except ImageError as exc:
        print(f"shoal: {exc}", file=sys.stderr)
        return 1

    with db.transaction() as session:
        image = catalogue.register_image(session, args.slug, path, entries)
        print(f"{image.id}\t{image.slug}\t{path}")
    return 0


def cmd_image_import(args: argparse.Namespace) -> int:
    from shoal.control.image_import import CustomImageRequest, ImageImporter
    from shoal.images.errors import ImageError

    source = Path(args.file).resolve()
    if not source.is_file():
        print(f"shoal: no such file: {args.file}", file=sys.stderr)
        return 1

    settings = _settings(args)
    db = _database(settings)
    request = CustomImageRequest(
        name=args.name or source.name,
        url="",
        region=settings.region.slug,
        distribution=args.distribution,
        description=args.description,
        tags=args.tag,
    )
    importer = ImageImporter(db, settings)
    try:
        image_id = importer.import_file(source, request)
    except ImageError as exc:
        print(f"shoal: image refused: {exc}", file=sys.stderr)
        return 1

    print(f"{image_id}\t{request.name}\t{importer.target(image_id)}")
    return 0


def _images(db: Database, settings: Settings, engine) -> None:
    """The catalogue's slugs as images, and the engine's importer."""
    from shoal.control.image_import import IMPORT, ImageImporter

    with db.transaction() as session:
        added = catalogue.sync_catalogue(session, catalogue.catalogue_of(settings))
    engine.register(IMPORT, ImageImporter(db, settings))
    log.info("images ready catalogue_added=%d", added)


def _virt_type(settings: Settings) -> str:
    from shoal.hypervisor.accel import choose_virt_type
    from shoal.images.probe_kit import probe_kit

    return choose_virt_type(
        settings.virt_type,
        lambda: probe_kit(settings.probe_cache_dir),
        settings.probe_cache_dir / "virt-type.json",
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
    from functools import partial

    from shoal.api.metadata import create_metadata_app, link_identity, link_protocol
    from shoal.control.metadata import MetadataSource
    from shoal.hypervisor import hostnet

    bridge, address = settings.network.bridge, settings.metadata_address
    hostnet.ensure_address(bridge, f"{address}/16")
    # The host's own requests come in here too (the local route of the
    # address names the bridge): with no link source, they get a 404.
    sockets = [hostnet.device_socket(bridge, address, settings.metadata_port)]

    identify = link_identity(partial(hostnet.neighbour_mac, bridge))
    app = create_metadata_app(MetadataSource(db, settings), identify)
    config = uvicorn.Config(
        app,
        http=link_protocol(hostnet.syn_source_mac),
        log_config=None,
        access_log=False,
    )
    return _Server(config), sockets


def _droplet_actions(db: Database, settings: Settings, engine) -> list:
    """Action handlers, droplet status from domain events, the backup
    schedule; returns what to stop on the way out."""
    from shoal.control import handlers
    from shoal.control.backups import BackupScheduler
    from shoal.control.domain_events import DomainEvents
    from shoal.control.status import StatusFollower

    events = DomainEvents()
    handlers.install(engine, events)
    follower = StatusFollower(db, engine.provisioner.host, events)
    scheduler = BackupScheduler(db, settings, engine.wake)
    follower.start()
    scheduler.start()
    return [scheduler, follower]


def cmd_serve(args: argparse.Namespace) -> int:
    from shoal.api.app import Services, create_app
    from shoal.control.engine import Engine
    from shoal.control.provision import Provisioner
    from shoal.hypervisor import events
    from shoal.hypervisor.connection import Host

    settings = _settings(args)
    db = _database(settings)
    # Before any connection opens: only later ones deliver domain events.
    events.start_event_loop()
    provisioner = Provisioner(
        settings, Host(settings.libvirt_uri), _virt_type(settings)
    )
    provisioner.prepare_host()
    engine = Engine(db, settings, provisioner)
    _images(db, settings, engine)
    running = _droplet_actions(db, settings, engine)
    engine.start()

    host, port = _split_listen(settings.listen)
    api = create_app(Services(settings=settings, db=db, wake_engine=engine.wake))
    config = uvicorn.Config(
        api, host=host, port=port, http="httptools", access_log=False, log_config=None
    )
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
        for part in running:
            part.stop()
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
    pull = image.add_parser(
        "pull", parents=[common], help="fetch a catalogue image and register it"
    )
    pull.add_argument("slug")
    pull.set_defaults(func=cmd_image_pull)
    imported = image.add_parser(
        "import", parents=[common], help="import a disk file as a custom image"
    )
    imported.add_argument("file", help="raw, qcow2, vmdk, vdi or vhdx; .gz/.bz2/.xz")
    imported.add_argument("--name", help="image name (default: the file name)")
    imported.add_argument("--distribution", help="e.g. Ubuntu (default: Unknown)")
    imported.add_argument("--description")
    imported.add_argument("--tag", action="append", default=[], help="repeatable")
    imported.set_defaults(func=cmd_image_import)
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
