"""The fault-injection switch itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shoal.control.faults import Faults, InjectedFault, parse


def test_parse_names_points_and_modes():
    assert parse("create.after_define=crash, destroy.before_domain=fail") == {
        "create.after_define": "crash",
        "destroy.before_domain": "fail",
    }
    assert parse("") == {}
    with pytest.raises(ValueError):
        parse("create.after_define=explode")


def test_unarmed_points_pass_and_fail_raises():
    faults = Faults({"a": "fail"})
    faults.point("b")
    with pytest.raises(InjectedFault, match="a"):
        faults.point("a")


def test_crash_kills_the_process_with_sigkill():
    code = "from shoal.control.faults import Faults; Faults({'x': 'crash'}).point('x')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert done.returncode == -9, done.stderr
