"""baygate-release.sh: install, health-gated upgrade, automatic rollback, pruning.

systemd cannot run here, so `systemctl` is a stand-in (the lowest layer) that does what
systemd would do with the installed unit: it starts the unit's ExecStart (paths moved
under the test's root) as a process and reports it active while it lives. Everything
else is real: the wheelhouse is the project's own wheel (`pip wheel --no-deps .`) plus
the wheels locks/runtime.txt names (`pip wheel --no-deps --require-hashes`, served from
pip's cache once fetched), venvs built by the script with `--no-index --require-hashes`,
and the installed `baygate run` serving /health on the port the config names.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

import pytest

from tests.support.broker import free_port
from tests.support.release import REPO, current, health_version, real_wheelhouse, release


@pytest.mark.slow
@pytest.mark.timeout(600)  # three real venvs of the locked set: ~1-3 min on a shared 2-core machine
def test_install_upgrade_failed_upgrade_rollback_with_real_venvs(
    env: dict[str, str], tmp_path: Path, locked_wheels: Path
) -> None:
    root = Path(env["BAYGATE_ROOT"])
    port = free_port()
    # The admin's config is kept; the script must find /health on ITS port, not 9310.
    etc = root / "etc/baygate"
    etc.mkdir(parents=True)
    (etc / "agent.toml").write_text(
        f'[agent]\nshop_id = "shop-rel"\nagent_id = "bay-1"\nstate_dir = "{root}/var/lib/baygate"\n'
        f'[enrich]\nenabled = false\n[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n'
        f"[api]\nport = {port}\n"
    )

    r = release(env, "install", str(real_wheelhouse(tmp_path, locked_wheels, "1.0.0")))
    assert r.returncode == 0, r.stdout + r.stderr + (root / "baygate.log").read_text()
    assert current(env) == "releases/1.0.0"
    assert health_version(port) == "1.0.0"  # the installed `baygate run` itself answers
    shebang = (root / "opt/baygate/releases/1.0.0/bin/baygate").read_text().splitlines()[0]
    assert shebang.startswith(f"#!{root}/opt/baygate/releases/1.0.0/bin/python")
    assert not list((root / "opt/baygate/releases").glob("*/.incomplete"))
    assert (etc / "credentials/mqtt-password").exists()
    assert "shop-rel" in (etc / "agent.toml").read_text()  # not overwritten
    # The unit's Documentation= names files the release really installed.
    unit = (root / "etc/systemd/system/baygate.service").read_text()
    m = re.search(r"^Documentation=(.*)$", unit, flags=re.M)
    assert m
    for uri in m.group(1).split():
        assert uri.startswith("file:/") and (root / uri.removeprefix("file:/")).is_file(), uri

    r = release(env, "upgrade", str(real_wheelhouse(tmp_path, locked_wheels, "1.1.0")))
    assert r.returncode == 0, r.stdout + r.stderr
    assert current(env) == "releases/1.1.0"
    assert health_version(port) == "1.1.0"

    # 1.2.0 installs but its agent cannot start: the script must put 1.1.0 back.
    env["HEALTH_TIMEOUT_S"] = "8"
    r = release(env, "upgrade", str(real_wheelhouse(tmp_path, locked_wheels, "1.2.0", broken=True)))
    assert r.returncode == 1
    assert "rolling back to 1.1.0" in r.stdout
    assert current(env) == "releases/1.1.0"
    env["HEALTH_TIMEOUT_S"] = "40"
    assert health_version(port) == "1.1.0"

    r = release(env, "rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert current(env) == "releases/1.0.0"  # older than current, never the failed 1.2.0
    assert health_version(port) == "1.0.0"
    calls = Path(env["LOG"]).read_text().splitlines()
    assert "enable --now baygate.service" in calls


def make_wheel(dest: Path, name: str, version: str, files: dict[str, str] | None = None) -> Path:
    """A minimal valid pure-Python wheel (one module, plus `files`)."""
    dist = f"{name}-{version}"
    path = dest / f"{name}-{version}-py3-none-any.whl"
    files = {
        f"{name}_mod.py": f"VERSION = {version!r}\n",
        **(files or {}),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for fname, text in files.items():
            data = text.encode()
            z.writestr(fname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{fname},sha256={digest},{len(data)}")
        record.append(f"{dist}.dist-info/RECORD,,")
        z.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def tiny_wheelhouse(tmp: Path, version: str) -> Path:
    """A wheelhouse of two tiny wheels: for what does not need the agent to run."""
    wh = tmp / f"tiny-{version}"
    wh.mkdir()
    dep = make_wheel(wh, "baygatedep", "1.0")
    sha = hashlib.sha256(dep.read_bytes()).hexdigest()
    (wh / "requirements.txt").write_text(f"baygatedep==1.0 --hash=sha256:{sha}\n")
    shipped = {
        f"agent/defaults/{p.relative_to(REPO / 'agent/defaults')}": p.read_text()
        for p in (REPO / "agent/defaults").rglob("*.toml")
    }
    make_wheel(wh, "baygate", version, shipped)
    return wh


def test_install_creates_what_the_unit_needs(env: dict[str, str], tmp_path: Path) -> None:
    env["HEALTH_TIMEOUT_S"] = "1"  # nothing serves /health here: only the skeleton matters
    r = release(env, "install", str(tiny_wheelhouse(tmp_path, "1.0.0")))
    assert r.returncode == 1 and "not healthy" in r.stderr
    assert "127.0.0.1:9310/health" in r.stderr  # the shipped example's [api] port
    etc = Path(env["BAYGATE_ROOT"]) / "etc/baygate"
    assert (etc / "agent.toml").read_text() == (REPO / "agent/defaults/agent.example.toml").read_text()
    shipped = sorted(p.name for p in (REPO / "agent/defaults/manufacturers").glob("*.toml"))
    assert sorted(p.name for p in (etc / "manufacturers").glob("*.toml")) == shipped
    cred = etc / "credentials/mqtt-password"
    assert cred.read_text() == "" and (cred.stat().st_mode & 0o777) == 0o600
    assert (Path(env["BAYGATE_ROOT"]) / "etc/systemd/system/baygate.service").exists()


def test_the_system_user_is_created_without_a_missing_group(env: dict[str, str], tmp_path: Path) -> None:
    useradd_log = tmp_path / "useradd.log"
    fake = tmp_path / "useradd"
    fake.write_text(f'#!/bin/sh\necho "$@" > {useradd_log}\n')
    fake.chmod(0o755)
    bin_dir = tmp_path / "bin"  # `id baygate` must fail and only `video` exist
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "getent").write_text('#!/bin/sh\n[ "$2" = video ]\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env.update(USERADD=str(fake), PATH=f"{bin_dir}:{env['PATH']}", HEALTH_TIMEOUT_S="1")
    r = release(env, "install", str(tiny_wheelhouse(tmp_path, "1.0.0")))
    assert "group bluetooth does not exist" in r.stdout
    args = useradd_log.read_text().split()
    assert args[args.index("--groups") + 1] == "video" and args[-1] == "baygate"


def test_an_interrupted_build_is_never_a_release(env: dict[str, str], tmp_path: Path) -> None:
    opt = Path(env["BAYGATE_ROOT"]) / "opt/baygate/releases/1.0.0"
    opt.mkdir(parents=True)
    (opt / ".incomplete").touch()  # a build that lost power half-way
    r = release(env, "status")
    assert "kept: 1.0.0" not in r.stdout
    env["HEALTH_TIMEOUT_S"] = "1"
    r = release(env, "install", str(tiny_wheelhouse(tmp_path, "1.0.0")))
    assert "removing an incomplete build of 1.0.0" in r.stderr
    assert not (opt / ".incomplete").exists() and (opt / "bin/python").exists()


def test_a_wheelhouse_with_a_tampered_wheel_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    wh = tiny_wheelhouse(tmp_path, "1.0.0")
    dep = wh / "baygatedep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(dep, "a") as z:
        z.writestr("evil.py", "print('pwned')\n")
    r = release(env, "install", str(wh))
    assert r.returncode != 0
    assert "hash" in (r.stdout + r.stderr).lower()
    assert not (Path(env["BAYGATE_ROOT"]) / "opt/baygate/current").exists()


def test_usage_errors_are_clear(env: dict[str, str]) -> None:
    r = release(env, "upgrade", "/nonexistent")
    assert r.returncode != 0 and "nothing installed yet" in r.stderr
    r = release(env, "frobnicate")
    assert r.returncode != 0 and "usage" in r.stderr
