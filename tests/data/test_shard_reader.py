"""The shard reader: every kind of damage it must skip and count while still reading the
good samples around it, img2dataset's own output, and streaming with bounded memory."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from components.data.shard_check import compare_shard_index, read_index, tar_keys
from components.data.shard_reader import SKIP_REASONS, ReadStats, read_shard
from tests.data.shard_files import encode, good_members, member_offsets, pixels, raw_tar, read_all, write_shard

# ----------------------------------------------------------------------------- damage


def _without(members: list[tuple[str, bytes]], ext: str) -> list[tuple[str, bytes]]:
    return [(n, d) for n, d in members if not n.endswith("." + ext)]


def _replace(members: list[tuple[str, bytes]], ext: str, data: bytes) -> list[tuple[str, bytes]]:
    return [(n, data if n.endswith("." + ext) else d) for n, d in members]


BAD = "000000001"
DAMAGE = {
    "undecodable_image": _replace(good_members(BAD), "png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
    "zero_byte_image": _replace(good_members(BAD), "png", b""),
    "missing_image": _without(good_members(BAD), "png"),
    # the json's caption does not stand in for a missing .txt (img2dataset semantics)
    "missing_caption": _without(good_members(BAD), "txt"),
    "missing_json": _without(good_members(BAD), "json"),
    "non_utf8_caption": _replace(good_members(BAD), "txt", b"caf\xe9 latin-1"),
    "unreadable_json": _replace(good_members(BAD), "json", b"{not json"),
    "duplicate_member": [*good_members(BAD), (f"{BAD}.txt", b"again")],
}


@pytest.mark.parametrize("reason", sorted(DAMAGE))
def test_damaged_sample_is_skipped_counted_and_logged(
    tmp_path: Path, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = raw_tar(tmp_path / "00000.tar", [*good_members("000000000"), *DAMAGE[reason], *good_members("000000002")])
    with caplog.at_level(logging.WARNING, logger="recap.shards"):
        samples, stats = read_all(path)
    assert [s.key for s in samples] == ["000000000", "000000002"]
    assert stats.read == 2 and reason in SKIP_REASONS
    assert stats.skipped == {reason: 1}
    assert stats.skipped_keys == [(BAD, reason)]
    assert any(BAD in r.getMessage() and reason in r.getMessage() for r in caplog.records)


def test_wrong_image_size_decoded_and_raw(tmp_path: Path) -> None:
    big = [(n, encode(pixels(1, 10, 10)) if n.endswith(".png") else d) for n, d in good_members(BAD)]
    path = raw_tar(tmp_path / "00000.tar", [*good_members("000000000"), *big, *good_members("000000002")])
    for decode in (True, False):
        samples, stats = read_all(path, expected_size=(6, 8), decode=decode)  # (width, height)
        assert [s.key for s in samples] == ["000000000", "000000002"]
        assert stats.skipped_keys == [(BAD, "wrong_image_size")]
    samples, stats = read_all(path)  # no expectation, no check
    assert len(samples) == 3 and stats.total_skipped == 0


def test_duplicate_key_in_separate_groups(tmp_path: Path) -> None:
    path = raw_tar(
        tmp_path / "00000.tar",
        [*good_members("a"), *good_members("b"), *good_members("a", seed=3), *good_members("c")],
    )
    samples, stats = read_all(path)
    assert [s.key for s in samples] == ["a", "b", "c"]
    assert stats.skipped_keys == [("a", "duplicate_key")]


@pytest.mark.parametrize("cut", ["image", "header"])
def test_truncated_tar_keeps_samples_before_the_cut(tmp_path: Path, cut: str) -> None:
    path = tmp_path / "00000.tar"
    write_shard(path, 5)
    start, size = member_offsets(path)["000000003.png"]
    # in the middle of the image's data, or in the middle of its header block
    end = start + size // 2 if cut == "image" else start - 256
    path.write_bytes(path.read_bytes()[:end])
    samples, stats = read_all(path)
    assert [s.key for s in samples] == ["000000000", "000000001", "000000002"]
    assert stats.skipped_keys == [("000000003", "truncated_tar")]


def test_tar_without_end_block_loses_only_the_last_sample(tmp_path: Path) -> None:
    path = tmp_path / "00000.tar"
    write_shard(path, 3)
    start, size = member_offsets(path)["000000002.txt"]
    path.write_bytes(path.read_bytes()[: start + (size + 511) // 512 * 512])  # every member, no end blocks
    samples, stats = read_all(path)
    # the last group looked complete, but more of its members could have followed
    assert [s.key for s in samples] == ["000000000", "000000001"]
    assert stats.skipped_keys == [("000000002", "truncated_tar")]


def test_not_a_tar_and_empty_file(tmp_path: Path) -> None:
    garbage = tmp_path / "00000.tar"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    samples, stats = read_all(garbage)
    assert samples == [] and stats.skipped_keys == [("00000.tar", "corrupt_tar")]
    empty = tmp_path / "00001.tar"
    empty.write_bytes(b"")
    samples, stats = read_all(empty)
    assert samples == [] and stats.skipped_keys == [("00001.tar", "truncated_tar")]
    with pytest.raises(FileNotFoundError):
        read_all(tmp_path / "missing.tar")


def test_unsafe_members_are_refused_and_never_extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    symlink = tarfile.TarInfo("link.png")
    symlink.type, symlink.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hardlink = tarfile.TarInfo("hard.txt")
    hardlink.type, hardlink.linkname = tarfile.LNKTYPE, "000000000.txt"
    device = tarfile.TarInfo("dev.png")
    device.type = tarfile.CHRTYPE
    folder = tarfile.TarInfo("somedir")
    folder.type = tarfile.DIRTYPE  # harmless: skipped without being counted
    (tmp_path / "shards").mkdir()
    path = raw_tar(
        tmp_path / "shards" / "00000.tar",
        [
            *good_members("000000000"),
            ("../evil.txt", b"escape"),
            ("/tmp/abs-evil.txt", b"absolute"),
            symlink,
            hardlink,
            device,
            folder,
            *good_members("000000001"),
        ],
    )

    def no_extraction(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reader must never extract to disk")

    monkeypatch.setattr(tarfile.TarFile, "extract", no_extraction)
    monkeypatch.setattr(tarfile.TarFile, "extractall", no_extraction)
    samples, stats = read_all(path)
    assert [s.key for s in samples] == ["000000000", "000000001"]
    assert stats.skipped == {"unsafe_member": 5}
    assert [k for k, _ in stats.skipped_keys] == ["../evil.txt", "/tmp/abs-evil.txt", "link.png", "hard.txt", "dev.png"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["00000.tar", "shards"]  # nothing written
    assert tar_keys(path) == ["000000000", "000000001"]


def test_members_in_directories_keep_the_directory_in_their_key(tmp_path: Path) -> None:
    """Two samples named alike in two directories stay two samples, keyed as webdataset keys them."""
    members = [(f"{d}/{name}", data) for d in ("a", "b") for name, data in good_members("x")]
    path = raw_tar(tmp_path / "00000.tar", members)
    samples, stats = read_all(path)
    assert [s.key for s in samples] == ["a/x", "b/x"] and stats.total_skipped == 0
    assert tar_keys(path) == ["a/x", "b/x"]


def test_non_rgb_modes_become_rgb(tmp_path: Path) -> None:
    grey = np.arange(48, dtype=np.uint8).reshape(8, 6)
    rgba = np.dstack([pixels(2), np.full((8, 6), 7, np.uint8)])
    members = []
    for key, array in (("grey", grey), ("rgba", rgba)):
        members += [
            (f"{key}.png", encode(array)),
            (f"{key}.json", b"{}"),
            (f"{key}.txt", b"c"),
        ]
    samples, _ = read_all(raw_tar(tmp_path / "00000.tar", members))
    assert [s.image.shape for s in samples] == [(8, 6, 3), (8, 6, 3)]
    np.testing.assert_array_equal(samples[0].image, np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(samples[1].image, rgba[..., :3])  # alpha dropped, not composited


# ----------------------------------------------------------------------------- img2dataset input


def test_reads_img2dataset_output_unchanged(tmp_path: Path) -> None:
    """img2dataset's layout: .jpg, json written with indent=4 and its own fields, a parquet
    with url/exif columns and a failed download that is listed but not in the tar."""
    members = []
    rows = []
    for i, status in enumerate(["success", "failed_to_download", "success"]):
        key = f"{i:09d}"
        row = {
            "url": f"https://example.com/{i}.jpg",
            "key": key,
            "caption": f"photo {i}",
            "status": status,
            "error_message": None if status == "success" else "404",
            "width": 6 if status == "success" else None,
            "height": 8 if status == "success" else None,
            "original_width": 600 if status == "success" else None,
            "original_height": 800 if status == "success" else None,
            "exif": "{}" if status == "success" else None,
            "sha256": None,
        }
        if status == "success":
            jpg = encode(pixels(i), "JPEG", quality=95)
            row["sha256"] = hashlib.sha256(jpg).hexdigest()
            members += [
                (f"{key}.jpg", jpg),
                (f"{key}.json", json.dumps(row, indent=4).encode()),
                (f"{key}.txt", row["caption"].encode()),
            ]
        rows.append(row)
    path = raw_tar(tmp_path / "00000.tar", members)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "00000.parquet")

    samples, stats = read_all(path, expected_size=(6, 8))
    assert [s.key for s in samples] == ["000000000", "000000002"] and stats.total_skipped == 0
    assert [s.ext for s in samples] == ["jpg", "jpg"]
    assert samples[0].meta["url"] == "https://example.com/0.jpg" and samples[1].caption == "photo 2"
    assert samples[0].image.shape == (8, 6, 3)
    # JPEG is lossy: the reader must give exactly what PIL decodes from the member's bytes
    np.testing.assert_array_equal(samples[0].image, np.asarray(Image.open(io.BytesIO(members[0][1]))))
    index = read_index(tmp_path / "00000.parquet")
    assert {"url", "exif"} <= set(index.columns)
    agreement = compare_shard_index(path, tmp_path / "00000.parquet")
    assert agreement.ok and agreement.index_count == 2  # the failed download is not expected


# ----------------------------------------------------------------------------- streaming


def test_reader_streams_without_listing_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "00000.tar"
    write_shard(path, 4)

    def listing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reader must not list the whole tar")

    monkeypatch.setattr(tarfile.TarFile, "getmembers", listing)
    monkeypatch.setattr(tarfile.TarFile, "getnames", listing)
    monkeypatch.setattr(tarfile.TarFile, "_load", listing)
    assert len(read_all(path)[0]) == 4
    assert len(tar_keys(path)) == 4


def test_reader_holds_one_header_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tarfile remembers every header it reads; the reader must drop them as it goes."""
    path = tmp_path / "00000.tar"
    write_shard(path, 20)
    remembered = []
    real_next = tarfile.TarFile.next

    def next_and_measure(self: tarfile.TarFile) -> tarfile.TarInfo | None:
        remembered.append(len(self.members))
        return real_next(self)

    monkeypatch.setattr(tarfile.TarFile, "next", next_and_measure)
    assert len(read_all(path)[0]) == 20
    assert len(remembered) > 60 and max(remembered) <= 1


def test_reader_is_lazy_before_a_damaged_tail(tmp_path: Path) -> None:
    path = tmp_path / "00000.tar"
    write_shard(path, 5)
    start, size = member_offsets(path)["000000003.png"]
    tail = np.random.default_rng(1).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes()
    path.write_bytes(path.read_bytes()[: start + size // 2] + tail)

    stats = ReadStats()
    samples = read_shard(path, stats=stats)
    first = next(samples)
    assert first.key == "000000000"
    assert stats.read == 1 and stats.total_skipped == 0  # the damage has not been reached yet
    rest = list(samples)
    assert [s.key for s in rest] == ["000000001", "000000002"]
    # the image member swallows part of the garbage; the next "header" is garbage
    assert stats.skipped_keys == [("000000003", "corrupt_tar")]


def test_read_stats_merge_and_total() -> None:
    a = ReadStats(read=2)
    a.skip("k1", "missing_caption")
    b = ReadStats(read=3)
    b.skip("k2", "missing_caption")
    b.skip("k3", "zero_byte_image")
    assert a.merge(b) is a
    assert a.read == 5 and a.total_skipped == 3
    assert a.skipped == {"missing_caption": 2, "zero_byte_image": 1}
    assert a.skipped_keys == [("k1", "missing_caption"), ("k2", "missing_caption"), ("k3", "zero_byte_image")]


def test_webdataset_compatibility_both_ways(tmp_path: Path) -> None:
    """img2dataset writes through webdataset's TarWriter; webdataset reads our shards."""
    wds = pytest.importorskip("webdataset")
    jpg = encode(pixels(0), "JPEG")
    with wds.TarWriter(str(tmp_path / "00000.tar")) as sink:
        for i in range(3):
            sink.write({"__key__": f"{i:09d}", "jpg": jpg, "txt": f"c{i}", "json": json.dumps({"i": i}, indent=4)})
    samples, stats = read_all(tmp_path / "00000.tar")
    assert [(s.key, s.caption, s.meta) for s in samples] == [(f"{i:09d}", f"c{i}", {"i": i}) for i in range(3)]
    assert stats.total_skipped == 0

    write_shard(tmp_path / "00001.tar", 3)
    read_back = list(wds.WebDataset(str(tmp_path / "00001.tar"), shardshuffle=False))
    assert [s["__key__"] for s in read_back] == ["000000000", "000000001", "000000002"]
    assert read_back[1]["txt"] == "caption 1 \u00e9".encode()
