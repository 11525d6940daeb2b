"""Multipart uploads: presigned part URLs for clients, server-side parts, completion."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from backdrop_common.errors import NotFound, Unavailable, UploadInvalid
from backdrop_common.storage.keys import MAX_PARTS, multipart_part_size
from backdrop_common.timestamps import rfc3339

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


class ObjectNotFound(NotFound):
    """The object (or multipart upload) does not exist."""


def expiry_timestamp(expires_s: int) -> str:
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_s)
    return rfc3339(at)


def is_missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in _MISSING


class MultipartMixin:
    """Multipart operations; ``Storage`` provides ``s3``, ``signer`` and ``bucket``."""

    s3: Any
    signer: Any
    bucket: str

    def create_multipart(self, key: str, content_type: str) -> str:
        """Start a multipart upload; returns its upload id."""
        resp = self.s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type
        )
        return str(resp["UploadId"])

    def presigned_multipart(
        self,
        key: str,
        *,
        size: int,
        content_type: str,
        expires_s: int = 3600,
        upload_id: str | None = None,
        part_size: int | None = None,
    ) -> dict[str, Any]:
        """API ``MULTIPART`` instructions (plus ``upload_id``); reuses ``upload_id`` if given."""
        part_size = part_size or multipart_part_size(size)
        count = max(1, math.ceil(size / part_size))
        if count > MAX_PARTS:
            raise ValueError("too many parts")
        upload_id = upload_id or self.create_multipart(key, content_type)
        parts = [
            {
                "part_number": n,
                "url": self.signer.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "UploadId": upload_id,
                        "PartNumber": n,
                        # Signed, so each URL takes exactly its part's bytes (the last one
                        # the remainder), not up to 5 GiB each that would sit in storage
                        # until upload-complete rejects the size or the lifecycle rule runs.
                        "ContentLength": min(part_size, size - (n - 1) * part_size),
                    },
                    ExpiresIn=expires_s,
                ),
            }
            for n in range(1, count + 1)
        ]
        return {
            "method": "MULTIPART",
            "upload_id": upload_id,
            "part_size": part_size,
            "parts": parts,
            "expires_at": expiry_timestamp(expires_s),
        }

    def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        """Upload one part server-side; returns its ETag."""
        resp = self.s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=data
        )
        return str(resp["ETag"])

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        """The parts uploaded so far, as ``[{part_number, etag, size}]``."""
        parts: list[dict[str, Any]] = []
        try:
            for page in self.s3.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            ):
                parts += [
                    {"part_number": p["PartNumber"], "etag": p["ETag"], "size": p["Size"]}
                    for p in page.get("Parts", [])
                ]
        except ClientError as exc:
            if is_missing(exc):
                raise ObjectNotFound("No such multipart upload.") from exc
            raise
        return parts

    def complete_multipart(
        self, key: str, upload_id: str, parts: Iterable[Mapping[str, Any]]
    ) -> None:
        """Assemble the parts ``[{part_number, etag}]``; a bad list raises ``UploadInvalid``."""
        numbered = sorted((int(p["part_number"]), str(p["etag"])) for p in parts)
        ordered = [{"PartNumber": n, "ETag": etag} for n, etag in numbered]
        try:
            self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": ordered}
            )
        except ClientError as exc:
            if is_missing(exc):
                raise ObjectNotFound("No such multipart upload.") from exc
            if int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500:
                raise Unavailable("The object store failed to assemble the upload.") from exc
            code = exc.response.get("Error", {}).get("Code", "error")
            raise UploadInvalid(f"The parts could not be assembled ({code}).") from exc

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload and drop its parts (no error when already gone)."""
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if not is_missing(exc):
                raise
