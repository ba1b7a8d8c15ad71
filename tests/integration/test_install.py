"""`meson install` (CONTRACT.md section 11, docs/operations.md "Installing").

From the build directory of the binary under test (AUTHGATE_BIN's), `meson install
--destdir` into a temp dir must put authgate in bin, authgate.1 in man1, the example
config in share/doc/authgate and the systemd unit in lib/systemd/system, with this
build's paths in it. The man page renders with `man --warnings` without a single
warning and names every command of gateway/main.c and every key of policy/config.c's
table with its default; the example config passes `authgate check`; the unit passes
`systemd-analyze verify` with no finding (skipped only where systemd-analyze is absent
or cannot run, saying so).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import AUTHGATE_BIN, CRYPTO_KEY, REPO, run_authgate

BUILD = AUTHGATE_BIN.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(destdir, the build's install paths) after `meson install --destdir`."""
    if not (BUILD / "meson-private").is_dir():
        pytest.skip("%s is not a meson build directory (AUTHGATE_BIN=%s)" % (BUILD, AUTHGATE_BIN))
    if shutil.which("meson") is None:
        pytest.fail("meson not installed")
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest),
                        "--no-rebuild"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    opts = {o["name"]: o["value"] for o in json.loads(subprocess.run(
        ["meson", "introspect", "--buildoptions", str(BUILD)], capture_output=True, text=True,
        check=True).stdout)}
    prefix = Path(opts["prefix"])

    def at(name):
        return prefix / opts[name]  # an absolute option (sysconfdir /etc) stays absolute

    paths = {"prefix": prefix, "bin": at("bindir"), "man": at("mandir"), "data": at("datadir"),
             "etc": at("sysconfdir"),
             "unit": Path(opts["systemd-unit-dir"] or prefix / "lib/systemd/system")}
    return dest, paths


def inside(dest, p):
    return dest / Path(p).relative_to("/")


def test_the_binary_is_in_bin_and_runs(installed):
    dest, p = installed
    exe = inside(dest, p["bin"] / "authgate")
    assert exe.is_file() and os.access(exe, os.X_OK), exe
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and re.fullmatch(r"authgate \d+\.\d+\.\d+\n", out.stdout), out


def test_only_the_four_files_are_installed(installed):
    dest, p = installed
    files = sorted(str(f.relative_to(dest)) for f in dest.rglob("*") if f.is_file())
    want = sorted(str(inside(Path("/"), x).relative_to("/")) for x in (
        p["bin"] / "authgate", p["man"] / "man1" / "authgate.1",
        p["data"] / "doc" / "authgate" / "config.example.json", p["unit"] / "authgate.service"))
    assert files == want


def test_the_example_config_is_the_repos_and_passes_check(installed):
    dest, p = installed
    cfg = inside(dest, p["data"] / "doc" / "authgate" / "config.example.json")
    assert cfg.read_bytes() == (Path(REPO) / "config.example.json").read_bytes()
    r = run_authgate("check", "--config", cfg, env_extra={"CRYPTOGRAPHY_KEY": CRYPTO_KEY})
    assert r.returncode == 0 and r.stdout.strip().endswith(": ok"), r


# ---------------------------------------------------------------- the man page

@pytest.fixture(scope="module")
def manpage(installed):
    dest, p = installed
    page = inside(dest, p["man"] / "man1" / "authgate.1")
    assert page.is_file(), page
    assert page.read_bytes() == (Path(REPO) / "docs" / "authgate.1").read_bytes()
    if shutil.which("man") is None:
        pytest.fail("man not installed (Debian packages man-db and groff-base)")
    env = dict(os.environ, LC_ALL="C", MANWIDTH="100")
    r = subprocess.run(["man", "--warnings", "-E", "ascii", "-l", str(page)], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", "man/groff warnings:\n" + r.stderr
    return r.stdout


def sections(text):
    """{SECTION: body} of a rendered page (section titles at column 0)."""
    out, name = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Z ]+$", line):
            name = line.strip()
            out[name] = []
        elif name:
            out[name].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def tagged(body):
    """{tag: paragraph} of the tagged paragraphs (.TP) in a rendered section."""
    out, tag = {}, None
    for line in body.splitlines():
        if re.match(r"^ {7}\S", line):
            # a tag narrower than the indent shares its line with the text (column 14)
            short = line[7:13].strip()
            if len(line) > 14 and line[13] == " " and line[14] != " " and " " not in short:
                tag, text = short, line[14:]
            else:
                tag, text = line[7:].strip(), ""
            out[tag] = text
        elif tag and line.strip():
            out[tag] += " " + line.strip()
    return out


def config_keys():
    """Every key of the table in policy/config.c."""
    text = (Path(REPO) / "policy" / "config.c").read_text()
    keys = re.findall(r'CONFIG_KEY_(?:FN|AT)\("([a-z0-9-]+)"', text)
    assert len(keys) > 40, keys
    return keys


def commands():
    text = (Path(REPO) / "gateway" / "main.c").read_text()
    return re.findall(r'^\s*\{"([a-z-]+)", "usage: ', text, re.M)


def test_the_man_page_has_the_sections_of_a_command(manpage):
    s = sections(manpage)
    for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "CONFIGURATION",
                 "ENVIRONMENT", "SIGNALS", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"):
        assert name in s, (name, sorted(s))
    assert "authgate - reverse-proxy authentication gateway" in s["NAME"]


def test_the_man_page_names_every_command(manpage):
    s = sections(manpage)
    cmds = commands()
    assert set(cmds) >= {"serve", "check", "keygen", "init", "csu", "reset-link", "unlock"}, cmds
    tags = tagged(s["COMMANDS"])
    for c in cmds:
        assert any(t.split()[0] == c for t in tags), (c, sorted(tags))
        assert re.search(r"^ +authgate .*\b%s\b" % re.escape(c), s["SYNOPSIS"], re.M), c
    for opt in ("--config", "--dir", "--version", "--help"):
        assert any(opt in t for t in tagged(s["OPTIONS"])), opt


def test_the_man_page_gives_every_config_key_with_its_default(manpage):
    paras = tagged(sections(manpage)["CONFIGURATION"])
    # the keys of policy/config.c, and those of CONTRACT.md sections 10 and 11
    keys = set(config_keys()) | {"tls-listen", "tls-cert-file", "tls-key-file", "tls-min-version",
                                 "upstream-ca-file", "metrics-listen", "log-format",
                                 "database-api-url"}
    missing = sorted(k for k in keys if k not in paras)
    assert not missing, "keys without a paragraph in CONFIGURATION: %s" % missing
    no_default = sorted(k for k in keys if "Default" not in paras[k])
    assert not no_default, "keys without their default: %s" % no_default
    assert sorted(t for t in paras if " " not in t and t not in keys) == [], "unknown keys"
    # a few defaults, as docs/config.md states them
    for key, default in (("listen", '"127.0.0.1:8080"'), ("auth-prefix", '"/auth"'),
                         ("access-token-ttl", "900"), ("refresh-token-ttl", "604800"),
                         ("cookie-samesite", '"lax"'), ("tls-min-version", '"1.2"'),
                         ("log-format", '"text"'), ("upstream-timeout", "60"),
                         ("redis", '"redis://127.0.0.1:6379/0"'), ("max-body-size", "1073741824")):
        assert "Default: " + default in paras[key], (key, paras[key])


def test_the_man_page_states_signals_exit_statuses_and_files(manpage):
    s = sections(manpage)
    assert {"SIGHUP", "SIGTERM, SIGINT", "SIGPIPE"} <= set(tagged(s["SIGNALS"]))
    assert {"0", "1", "2"} == set(tagged(s["EXIT STATUS"]))
    files = tagged(s["FILES"])
    assert any(f.endswith("/share/doc/authgate/config.example.json") for f in files), files
    assert any(f.endswith("/lib/systemd/system/authgate.service") for f in files), files
    assert {"MASTER_TOKEN", "CRYPTOGRAPHY_KEY"} == set(tagged(s["ENVIRONMENT"]))
    assert "authgate init --dir /etc/authgate" in s["EXAMPLES"]


# ---------------------------------------------------------------- the systemd unit

@pytest.fixture(scope="module")
def unit(installed):
    dest, p = installed
    path = inside(dest, p["unit"] / "authgate.service")
    assert path.is_file(), path
    return path


def unit_lines(path):
    return [line for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_the_unit_has_this_builds_paths_and_its_hardening(installed, unit):
    dest, p = installed
    text = unit.read_text()
    assert not re.search(r"@[a-z_]+@", text), "a placeholder was left"
    lines = unit_lines(unit)
    conf = p["etc"] / "authgate" / "authgate.json"
    for want in ("ExecStart=%s serve --config %s" % (p["bin"] / "authgate", conf),
                 "EnvironmentFile=-%s" % (p["etc"] / "authgate" / ".env"),
                 "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                 "RestartPreventExitStatus=2", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "PrivateTmp=yes", "CapabilityBoundingSet=", "AmbientCapabilities=",
                 "Type=simple", "WantedBy=multi-user.target"):
        assert want in lines, (want, lines)
    # no capability unless the operator adds CAP_NET_BIND_SERVICE (as the comment says)
    assert not [x for x in lines if "CAP_" in x], lines
    assert "#   CapabilityBoundingSet=CAP_NET_BIND_SERVICE" in text


def test_the_unit_passes_systemd_analyze_verify(installed, unit, tmp_path):
    dest, p = installed
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # verify checks that ExecStart= names an executable: point it at the installed copy
    # under the destdir; nothing else in the unit changes.
    exe = p["bin"] / "authgate"
    text = unit.read_text()
    assert "ExecStart=%s " % exe in text
    copy = tmp_path / "authgate.service"
    copy.write_text(text.replace("ExecStart=%s " % exe, "ExecStart=%s " % inside(dest, exe)))
    env = dict(os.environ, MANPATH=str(inside(dest, p["man"])))  # Documentation=man:authgate(1)
    r = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True,
                       env=env, timeout=60)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 and re.search(r"Failed to (initialize|set up|create) manager|"
                                       r"not been booted with systemd|Operation not permitted",
                                       out, re.I):
        pytest.skip("systemd-analyze cannot run in this container: %s" % out[:300])
    assert r.returncode == 0 and out == "", "systemd-analyze verify:\n" + out


def test_systemd_analyze_verify_does_find_a_broken_unit(installed, unit, tmp_path):
    """The check above can fail: the same unit with a typo in a key is reported."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    bad = tmp_path / "broken.service"
    bad.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    r = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True,
                       timeout=60)
    assert "Unknown key" in r.stdout + r.stderr and "ProtectSystm" in r.stdout + r.stderr
