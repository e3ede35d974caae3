"""Photos of cases: checked and kept as files under the state folder, served only to
those who may see their case.

    <state>/cases/<photo id>      photo id: 32 random hex digits (the only name ever used
                                  for a path: no name from the client reaches the disk)

The type comes from the bytes (JPEG, PNG, WebP), never from the client's header or file
name; a photo over the size limit is refused (413), anything else (415). Files are
written before the step that records them; a step that fails leaves its files behind
unlisted (nothing serves a photo the store does not know).
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import datetime
from pathlib import Path

from fastapi import HTTPException, UploadFile

from gateway.store.records import CasePhoto

PHOTO_ID = re.compile(r"^[0-9a-f]{32}$")
CHUNK = 64 * 1024


def sniff(head: bytes) -> str | None:
    """The image type its first bytes say, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def save_photos(
    folder: Path,
    uploads: list[UploadFile],
    by: str,
    now: datetime,
    *,
    max_bytes: int,
    max_count: int,
) -> list[CasePhoto]:
    """Check and write the photos of one request; their records (case id 0: the stage
    fills it in for a new case)."""
    uploads = [u for u in uploads if u.filename or u.size]
    if len(uploads) > max_count:
        raise HTTPException(status_code=422, detail=f"at most {max_count} photos per request")
    checked: list[tuple[bytearray, str]] = []
    for i, upload in enumerate(uploads, start=1):
        data = bytearray()
        while chunk := upload.file.read(CHUNK):
            data += chunk
            if len(data) > max_bytes:
                raise HTTPException(status_code=413, detail=f"photo {i} is over {max_bytes} bytes")
        if not data:
            raise HTTPException(status_code=422, detail=f"photo {i} is empty")
        kind = sniff(bytes(data[:16]))
        if kind is None:
            raise HTTPException(
                status_code=415, detail=f"photo {i} is not a JPEG, PNG or WebP image"
            )
        checked.append((data, kind))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for data, kind in checked:
        photo_id = secrets.token_hex(16)
        path = folder / photo_id
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        out.append(CasePhoto(photo_id, 0, now, by, kind, len(data)))
    return out


def photo_path(folder: Path, photo_id: str) -> Path | None:
    if not PHOTO_ID.match(photo_id):
        return None
    path = folder / photo_id
    return path if path.is_file() else None
