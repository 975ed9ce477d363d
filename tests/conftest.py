"""Fixtures shared by every tier: an API on a fresh state dir, tokens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shoal.api.app import Services, create_app
from shoal.control import catalogue, tokens
from shoal.control.config import Settings
from shoal.control.db import Database, upgrade


def pytest_collection_modifyitems(config, items):
    """Tests marked e2e boot real guests; deploy/test.sh sets SHOAL_E2E=1
    after starting libvirtd in its network namespace."""
    if os.environ.get("SHOAL_E2E") == "1":
        return
    skip = pytest.mark.skip(reason="end-to-end tests run through deploy/test.sh")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        image_cache_dir=tmp_path / "cache",
        libvirt_uri="test:///default",
    )


@pytest.fixture
def db(settings: Settings) -> Database:
    settings.state_dir.mkdir(parents=True)
    database = Database(settings.db_url)
    upgrade(database.engine)
    return database


@pytest.fixture
def base_image(db: Database, tmp_path: Path) -> int:
    """A registered debian-12-x64 whose file is a stand-in (no VM boots)."""
    path = tmp_path / "debian.qcow2"
    path.write_bytes(b"\0" * 1024)
    with db.transaction() as session:
        return catalogue.register_image(session, "debian-12-x64", path).id


@pytest.fixture
def token(db: Database) -> str:
    with db.transaction() as session:
        return tokens.create_token(session, "tests")


@pytest.fixture
def client(settings: Settings, db: Database, token: str) -> TestClient:
    app = create_app(Services(settings=settings, db=db))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client
