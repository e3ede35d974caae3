"""Photos: the type from the bytes, the size limit, names the gateway makes (no path from
the client reaches the disk)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import HTTPException, UploadFile

from gateway.api.photos import photo_path, save_photos, sniff

NOW = datetime(2026, 3, 9, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"x" * 100


def upload(data: bytes, name: str = "a.jpg") -> UploadFile:
    return UploadFile(io.BytesIO(data), filename=name, size=len(data))


def test_the_type_comes_from_the_bytes_not_the_name() -> None:
    assert sniff(JPEG) == "image/jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"<svg onload=alert(1)>") is None
    assert sniff(b"GIF89a") is None


def test_a_photo_is_kept_under_a_name_the_gateway_makes(tmp_path: Path) -> None:
    [photo] = save_photos(tmp_path, [upload(JPEG, "../../etc/passwd")], "w-g1", NOW,
                          max_bytes=1000, max_count=4)  # fmt: skip
    assert photo.content_type == "image/jpeg"
    assert [p.name for p in tmp_path.iterdir()] == [photo.id]
    assert (tmp_path / photo.id).read_bytes() == JPEG
    assert (tmp_path / photo.id).stat().st_mode & 0o777 == 0o600
    assert photo_path(tmp_path, photo.id) == tmp_path / photo.id
    for bad in ("../" + photo.id, photo.id.upper(), "x" * 32, ""):
        assert photo_path(tmp_path, bad) is None


@pytest.mark.parametrize(("data", "code"), [(JPEG * 20, 413), (b"%PDF-1.7", 415), (b"", 422)])
def test_too_big_not_an_image_or_empty_is_refused_and_nothing_is_written(
    tmp_path: Path, data: bytes, code: int
) -> None:
    with pytest.raises(HTTPException) as caught:
        save_photos(tmp_path, [upload(JPEG), upload(data, "b.jpg")], "w-g1", NOW,
                    max_bytes=1000, max_count=4)  # fmt: skip
    assert caught.value.status_code == code
    assert list(tmp_path.iterdir()) == []  # checked all first: the good one is not kept


def test_too_many_photos_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HTTPException, match="at most 2"):
        save_photos(tmp_path, [upload(JPEG)] * 3, "w-g1", NOW, max_bytes=1000, max_count=2)
