"""Staging an ordered upgrade (agent/service/upgrade.py, upgrade_stage.py): a verified
wheelhouse is unpacked and requested; anything wrong is refused with nothing staged.
Downloads come from a real HTTP server on loopback or a file:// URL."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from agent.errors import UpgradeError
from agent.service.upgrade import Order, Upgrader, write_json
from agent.service.upgrade_stage import fetch, unpack
from tests.support.sync import running, until
from tests.support.upgrade import Served, serve, sha256_of, tar_wheelhouse, tiny_stage


def staged_nothing(up: Upgrader, version: str) -> bool:
    d = up.dir
    return not (d / "request").exists() and not (d / version).exists() and not list(d.glob(f"{version}*"))


def test_a_verified_wheelhouse_is_unpacked_and_requested(tmp_path: Path) -> None:
    data = tar_wheelhouse(tiny_stage(tmp_path, "1.1.0"), tmp_path / "wh.tar")
    up = Upgrader(tmp_path / "state", "1.0.0")
    with serve(Served({"/wh.tar": data})) as s:
        up.stage(Order("0123456789abcdef", "1.1.0", f"{s.base}/wh.tar", sha256_of(data)))
    assert json.loads((up.dir / "request").read_text()) == {"id": "0123456789abcdef", "version": "1.1.0"}
    assert sorted(p.name for p in (up.dir / "1.1.0").iterdir()) == [
        "baygate-1.1.0-py3-none-any.whl",
        "requirements.txt",
    ]
    assert not (up.dir / "1.1.0.tar").exists()  # the tarball goes once unpacked: disk


def test_file_urls_are_fetched_too(tmp_path: Path) -> None:
    tar = tmp_path / "wh.tar"
    data = tar_wheelhouse(tiny_stage(tmp_path, "1.1.0"), tar)
    up = Upgrader(tmp_path / "state", "1.0.0")
    up.stage(Order("0123456789abcdef", "1.1.0", tar.as_uri(), sha256_of(data)))
    assert (up.dir / "request").exists()


def test_a_sha256_mismatch_is_refused_and_nothing_staged(tmp_path: Path) -> None:
    data = tar_wheelhouse(tiny_stage(tmp_path, "1.1.0"), tmp_path / "wh.tar")
    up = Upgrader(tmp_path / "state", "1.0.0")
    with serve(Served({"/wh.tar": data})) as s, pytest.raises(UpgradeError, match=r"sha256 of .* is "):
        up.stage(Order("0123456789abcdef", "1.1.0", f"{s.base}/wh.tar", sha256_of(data + b"x")))
    assert staged_nothing(up, "1.1.0")


@pytest.mark.parametrize("no_length", [False, True], ids=["declared", "undeclared"])
def test_an_oversized_download_is_refused_and_nothing_staged(tmp_path: Path, no_length: bool) -> None:
    data = tar_wheelhouse(tiny_stage(tmp_path, "1.1.0", {"big.whl": b"x" * 300_000}), tmp_path / "wh.tar")
    up = Upgrader(tmp_path / "state", "1.0.0", max_bytes=200_000)
    with (
        serve(Served({"/wh.tar": data}, no_length=no_length)) as s,
        pytest.raises(UpgradeError, match="over the cap of 200000"),
    ):
        up.stage(Order("0123456789abcdef", "1.1.0", f"{s.base}/wh.tar", sha256_of(data)))
    assert staged_nothing(up, "1.1.0")


def test_an_order_that_would_eat_the_outboxs_room_is_refused_before_writing(tmp_path: Path) -> None:
    data = tar_wheelhouse(tiny_stage(tmp_path, "1.1.0"), tmp_path / "wh.tar")
    free = shutil.disk_usage(tmp_path).free
    up = Upgrader(tmp_path / "state", "1.0.0", min_free_bytes=free)  # nothing may be used
    with serve(Served({"/wh.tar": data})) as s, pytest.raises(UpgradeError, match="not enough room under"):
        up.stage(Order("0123456789abcdef", "1.1.0", f"{s.base}/wh.tar", sha256_of(data)))
    assert staged_nothing(up, "1.1.0") and not list(up.dir.glob("*.part"))


def test_unknown_schemes_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UpgradeError, match="scheme 'ftp'"):
        fetch("ftp://h/x.tar", tmp_path / "x.tar", sha256="0" * 64, max_bytes=10)
    with serve(Served()) as s, pytest.raises(UpgradeError, match=r"cannot fetch .*404"):
        fetch(f"{s.base}/nope.tar", tmp_path / "x.tar", sha256="0" * 64, max_bytes=10)
    assert list(tmp_path.iterdir()) == []


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ok = tarfile.TarInfo("requirements.txt")
        ok.size = 3
        tf.addfile(ok, io.BytesIO(b"x=1"))
        member.size = len(data) if member.isreg() else 0
        tf.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type, m.linkname = kind, link
    return m


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (_member("../evil.whl"), "not a plain file name"),
        (_member("/etc/evil.whl"), "not a plain file name"),
        (_member("./../../evil.whl"), "not a plain file name"),
        (_member("sub/evil.whl"), "not a plain file name"),
        (_member(".."), "not a plain file name"),
        (_member("evil.whl", tarfile.SYMTYPE, "/etc/passwd"), "not a regular file"),
        (_member("evil.whl", tarfile.LNKTYPE, "requirements.txt"), "not a regular file"),
        (_member("evil.whl", tarfile.CHRTYPE), "not a regular file"),
        (_member("requirements.txt"), "appears twice"),
    ],
    ids=["dotdot", "absolute", "dot-dotdot", "subdir", "bare-dotdot", "symlink", "hardlink", "device", "dup"],
)
def test_a_tarball_member_that_is_not_a_plain_file_is_refused(
    tmp_path: Path, member: tarfile.TarInfo, why: str
) -> None:
    tar = tmp_path / "in" / "wh.tar"
    tar.parent.mkdir()
    tar.write_bytes(_tar_with(member, b"pwned"))
    dest = tmp_path / "out" / "1.1.0"
    dest.parent.mkdir()
    with pytest.raises(UpgradeError, match=why):
        unpack(tar, dest, max_bytes=1 << 20)
    assert list(dest.parent.iterdir()) == []  # not even the first, good member
    assert not (tmp_path / "evil.whl").exists()


def test_the_unpacked_size_is_capped_before_anything_is_written(tmp_path: Path) -> None:
    # Compresses ~1,000:1: the cap must hold for what the headers declare, not the file size.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        m = tarfile.TarInfo("huge.whl")
        m.size = 5_000_000
        tf.addfile(m, io.BytesIO(b"\0" * m.size))
    tar = tmp_path / "wh.tar.gz"
    tar.write_bytes(buf.getvalue())
    assert tar.stat().st_size < 100_000
    with pytest.raises(UpgradeError, match="unpacked size over the cap"):
        unpack(tar, tmp_path / "out", max_bytes=1_000_000)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.unpacking").exists()


@pytest.mark.parametrize(
    ("extra", "why"),
    [({"baygate-1.2.0-py3-none-any.whl": b"PK"}, "exactly baygate-1.1.0"), (None, None)],
    ids=["second-baygate-wheel", "ok"],
)
def test_the_wheelhouse_must_hold_exactly_the_ordered_release(
    tmp_path: Path, extra: dict[str, bytes] | None, why: str | None
) -> None:
    tar = tmp_path / "wh.tar"
    data = tar_wheelhouse(tiny_stage(tmp_path, "1.1.0", extra), tar)
    up = Upgrader(tmp_path / "state", "1.0.0")
    o = Order("0123456789abcdef", "1.1.0", tar.as_uri(), sha256_of(data))
    if why is None:
        up.stage(o)
        return
    with pytest.raises(UpgradeError, match=why):
        up.stage(o)
    assert staged_nothing(up, "1.1.0")


def test_a_wheelhouse_of_another_version_is_refused(tmp_path: Path) -> None:
    tar = tmp_path / "wh.tar"
    data = tar_wheelhouse(tiny_stage(tmp_path, "1.2.0"), tar)
    up = Upgrader(tmp_path / "state", "1.0.0")
    holds = r"exactly baygate-1\.1\.0-py3-none-any\.whl; it holds baygate-1\.2\.0"
    with pytest.raises(UpgradeError, match=holds):
        up.stage(Order("0123456789abcdef", "1.1.0", tar.as_uri(), sha256_of(data)))
    assert staged_nothing(up, "1.1.0")


@pytest.mark.anyio
async def test_orders_are_answered_at_once_and_a_refusal_is_reported(tmp_path: Path) -> None:
    tar = tmp_path / "wh.tar"
    data = tar_wheelhouse(tiny_stage(tmp_path, "1.1.0"), tar)
    heard: list[dict[str, Any]] = []

    async def on_result(result: dict[str, Any]) -> None:
        heard.append(result)

    up = Upgrader(tmp_path / "state", "1.0.0", on_result=on_result, poll_s=0.05)
    assert up.order("1.0.0", tar.as_uri(), sha256_of(data))["status"] == "current"
    assert up.order("../1", tar.as_uri(), sha256_of(data))["status"] == "rejected"
    old = up.order("0.9.12", tar.as_uri(), sha256_of(data))  # a replayed, once-signed old order
    assert old["status"] == "rejected" and "downgrades are refused" in old["error"]
    assert Upgrader(tmp_path / "s2", "1.9.0").order("1.10.0", tar.as_uri(), "0" * 64)["status"] == "accepted"
    bad = up.order("1.1.0", tar.as_uri(), "0" * 64)
    assert bad["status"] == "accepted" and len(bad["id"]) == 16
    assert up.order("1.1.0", tar.as_uri(), sha256_of(data))["status"] == "busy"  # one at a time
    async with running(up.run):
        await until(lambda: (up.report()["result"] or {}).get("id") == bad["id"], what="refusal written")
        res = up.report()["result"]
        assert res["status"] == "refused" and "sha256" in res["detail"], res
        assert staged_nothing(up, "1.1.0")
        good = up.order("1.1.0", tar.as_uri(), sha256_of(data))
        assert good["status"] == "accepted"
        await until(lambda: up.report()["pending"] == "1.1.0", what="request written")
        assert up.order("1.1.0", tar.as_uri(), sha256_of(data))["status"] == "busy"  # until the unit takes it
    assert [h["id"] for h in heard] == [bad["id"]]  # announced once
    up.request_path.rename(up.dir / "request.taken")  # the unit took it and is installing
    assert up.order("1.1.0", tar.as_uri(), sha256_of(data))["status"] == "busy"
    (up.dir / "request.taken").unlink()  # done

    # What root's unit writes while the agent runs (a failed build does not restart it),
    # and what a restarted agent finds: each announced once, never again after a restart.
    write_json(up.result_path, {"id": "feedfeedfeedfeed", "version": "1.1.0", "status": "failed"})
    async with running(up.run):
        await until(lambda: len(heard) == 2, what="root's result announced")
    again = Upgrader(tmp_path / "state", "1.0.0", on_result=on_result, poll_s=0.05)
    await again.announce()  # what its run() does first
    assert [h["id"] for h in heard] == [bad["id"], "feedfeedfeedfeed"]
