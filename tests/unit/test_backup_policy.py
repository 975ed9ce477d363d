"""When backups happen: the policy's window, its defaults, and retention
counts as DigitalOcean keeps them (7 daily, 4 weekly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shoal.control.backups import RETENTION, full_policy, next_backup_at, next_window
from shoal.control.config import Settings

# A Wednesday.
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"plan": "daily", "hour": 12}, datetime(2026, 12, 2, 12, tzinfo=UTC)),
        ({"plan": "daily", "hour": 8}, datetime(2026, 12, 3, 8, tzinfo=UTC)),
        ({"plan": "daily"}, datetime(2026, 12, 3, 0, tzinfo=UTC)),
        (
            {"plan": "weekly", "weekday": "WED", "hour": 20},
            datetime(2026, 12, 2, 20, tzinfo=UTC),
        ),
        (
            {"plan": "weekly", "weekday": "WED", "hour": 4},
            datetime(2026, 12, 9, 4, tzinfo=UTC),
        ),
        ({"plan": "weekly", "weekday": "SUN"}, datetime(2026, 12, 6, 0, tzinfo=UTC)),
        ({"plan": "weekly"}, datetime(2026, 12, 6, 0, tzinfo=UTC)),
    ],
)
def test_next_window_starts_at_the_policys_next_hour_and_day(policy, expected):
    assert next_window(policy, NOW) == expected


def test_a_window_starting_now_is_the_next_one():
    at_eight = NOW.replace(hour=8, minute=0)

    assert next_window({"hour": 8}, at_eight) == at_eight + timedelta(days=1)


def test_full_policy_fills_defaults_and_read_only_fields():
    assert full_policy({"plan": "weekly"}) == {
        "plan": "weekly",
        "weekday": "SUN",
        "hour": 0,
        "window_length_hours": 4,
        "retention_period_days": 28,
    }
    assert full_policy(None)["retention_period_days"] == 7


def test_retention_keeps_a_week_of_dailies_and_four_weeklies():
    assert RETENTION == {"daily": 7, "weekly": 4}


def test_backup_interval_setting_overrides_the_window(tmp_path):
    settings = Settings(state_dir=tmp_path, backup_interval_seconds=30)

    assert next_backup_at(settings, {"plan": "weekly"}, NOW) == NOW + timedelta(
        seconds=30
    )
