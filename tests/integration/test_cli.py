"""The command line: every command's --help (CONTRACT.md section 2; issue 9 point 23)."""

import pytest

from conftest import run_authgate

COMMANDS = ["serve", "check", "keygen", "init", "csu", "reset-link", "unlock"]


# ---------------------------------------------------------------- --help

@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_with_exit_0(command, flag):
    r = run_authgate(command, flag)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    first = r.stdout.splitlines()[0] if r.stdout else ""
    assert first.startswith("usage: authgate") and command in first, r.stdout
    assert r.stderr == "", r.stderr


@pytest.mark.parametrize("command,args", [
    ("check", ["--config", "/nonexistent.json"]),
    ("serve", ["--config", "/nonexistent.json"]),
    ("csu", ["--config", "/nonexistent.json", "--username", "u"]),
    ("unlock", ["--user", "u"]),
])
def test_help_wins_over_other_arguments(command, args):
    """--help does nothing else: no config is read, no store is asked."""
    r = run_authgate(command, *args, "--help")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.startswith("usage: authgate"), r.stdout


def test_unknown_command_with_help_is_still_unknown():
    r = run_authgate("frobnicate", "--help")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "frobnicate" in r.stderr


def test_keygen_with_an_argument_is_a_usage_error():
    assert run_authgate("keygen", "--bogus").returncode == 2
