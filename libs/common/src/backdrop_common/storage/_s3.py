"""Object storage (any S3-compatible server): object keys, presigned uploads, streaming I/O.

Two boto3 clients: ``s3`` talks to ``settings.s3_endpoint_url`` (server-side calls) and
``signer`` only signs URLs for ``settings.presign_endpoint_url`` (what clients can reach);
a signature covers the host, so a URL must be signed for the host the client will use.
"""

from __future__ import annotations

import hashlib
from typing import IO, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from backdrop_common.config import BaseServiceSettings
from backdrop_common.metrics import DEPENDENCY_ERRORS
from backdrop_common.storage._multipart import (
    MultipartMixin,
    ObjectNotFound,
    expiry_timestamp,
    is_missing,
)
from backdrop_common.storage.keys import (
    MIN_PART_SIZE,
    MiB,
    artifact_key,
    input_key,
    sanitize_filename,
)

__all__ = ["ObjectNotFound", "Storage"]

SINGLE_COPY_LIMIT = 5 * 1024 * MiB
"""The largest object one CopyObject request may copy (S3's limit)."""


def _count_error(**_: Any) -> None:
    DEPENDENCY_ERRORS.labels("s3").inc()


def _count_5xx(http_response: Any = None, **_: Any) -> None:
    if http_response is not None and http_response.status_code >= 500:
        DEPENDENCY_ERRORS.labels("s3").inc()


class Storage(MultipartMixin):
    """The bucket of one deployment, with the operations Backdrop needs."""

    def __init__(self, settings: BaseServiceSettings, bucket: str | None = None) -> None:
        self.bucket = bucket or settings.s3_bucket
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},  # MinIO/moto on an IP:port have no bucket DNS
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=3,
            read_timeout=60,
            max_pool_connections=32,
        )
        creds = {
            "region_name": settings.s3_region,
            "aws_access_key_id": settings.s3_access_key,
            "aws_secret_access_key": settings.s3_secret_key,
            "config": config,
        }
        self.s3: Any = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, **creds)
        self.signer: Any = boto3.client("s3", endpoint_url=settings.presign_endpoint_url, **creds)
        # Count S3 trouble (no answer, or a 5xx after botocore's retries) for the dashboards.
        self.s3.meta.events.register("after-call-error", _count_error)
        self.s3.meta.events.register("after-call.s3", _count_5xx)
        # Bounded memory: at most max_concurrency parts in flight plus a small read-ahead.
        self.transfer = TransferConfig(
            multipart_threshold=MIN_PART_SIZE,
            multipart_chunksize=MIN_PART_SIZE,
            max_concurrency=2,
            max_io_queue=4,
        )
        self.transfer.max_in_memory_upload_chunks = 2
        # Copies stay one server-side CopyObject up to S3's 5 GiB limit (RGW shares the
        # data instead of copying it); larger objects are copied in 1 GiB parts.
        self.copy_transfer = TransferConfig(
            multipart_threshold=SINGLE_COPY_LIMIT, multipart_chunksize=1024 * MiB
        )

    input_key = staticmethod(input_key)
    artifact_key = staticmethod(artifact_key)

    def ensure_bucket(self) -> None:
        """Create the bucket if missing; incomplete multipart uploads are aborted after 1 day."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if not is_missing(exc):
                raise
        self.s3.create_bucket(Bucket=self.bucket)
        rule = {
            "ID": "abort-incomplete-multipart",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
        self.s3.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration={"Rules": [rule]}
        )

    def ping(self) -> None:
        """Raise unless the bucket answers (readiness check)."""
        self.s3.head_bucket(Bucket=self.bucket)

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's metadata (``ContentLength``, ``ContentType``, ``ETag``...) or None."""
        try:
            meta: dict[str, Any] = self.s3.head_object(
                Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return meta

    def open_read(self, key: str) -> Any:
        """A streaming body (``read(n)``, ``iter_chunks()``, ``close()``); never loads it whole."""
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if is_missing(exc):
                raise ObjectNotFound(f"No object {key!r}.") from exc
            raise

    def sha256(self, key: str, chunk_size: int = MiB) -> str:
        """Hex SHA-256 of the object, streamed (one chunk in memory at a time)."""
        body = self.open_read(key)
        digest = hashlib.sha256()
        try:
            for chunk in body.iter_chunks(chunk_size):
                digest.update(chunk)
        finally:
            body.close()
        return digest.hexdigest()

    def upload_fileobj(self, key: str, fileobj: IO[bytes], content_type: str) -> None:
        """Upload a readable file object with boto3's managed transfer (bounded memory)."""
        self.s3.upload_fileobj(
            fileobj, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self.transfer
        )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store a small object in one request."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def copy(self, source: str, target: str, size: int | None = None) -> None:
        """Copy ``source`` to ``target`` inside the bucket (server-side, metadata kept).

        ``size`` is the size the caller expects. Up to S3's 5 GiB CopyObject limit that is
        one request; otherwise, or when S3 refuses it because the object is larger than
        expected, boto3's managed copy, which asks S3 for the size first (a HEAD and a
        thread pool: about a third of an upload-complete's CPU for a small file).
        """
        source_ref = {"Bucket": self.bucket, "Key": source}
        try:
            if size is not None and size <= SINGLE_COPY_LIMIT:
                try:
                    self.s3.copy_object(Bucket=self.bucket, Key=target, CopySource=source_ref)
                    return
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "InvalidRequest":
                        raise
            self.s3.copy(source_ref, self.bucket, target, Config=self.copy_transfer)
        except ClientError as exc:
            if is_missing(exc):
                raise ObjectNotFound(f"No object {source!r}.") from exc
            raise

    def delete(self, key: str) -> None:
        """Delete one object (no error when it is already gone)."""
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def discard_upload(self, key: str, upload_id: str | None) -> None:
        """Withdraw an upload: abort its multipart upload (its part URLs then fail) and
        delete the object at ``key``. Presigned POST forms stay valid until they expire:
        the sweeper deletes what they write later."""
        if upload_id:
            self.abort_multipart(key, upload_id)
        self.delete(key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many."""
        deleted = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objects:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})
                deleted += len(objects)
        return deleted

    def presigned_get(self, key: str, expires_s: int = 900, filename: str | None = None) -> str:
        """A GET URL for clients; ``filename`` sets the download name."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            safe = sanitize_filename(filename).replace('"', "")
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        url: str = self.signer.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_s
        )
        return url

    def presigned_post(
        self,
        key: str,
        *,
        content_type: str,
        max_size: int,
        min_size: int | None = None,
        expires_s: int = 900,
    ) -> dict[str, Any]:
        """API ``upload`` form: the policy pins the key, the content type and the length.

        ``min_size`` defaults to ``max_size`` (the declared size exactly), which also makes
        an empty file (0, 0) work; pass 0 to allow anything up to ``max_size``.
        """
        low = max_size if min_size is None else min_size
        post = self.signer.generate_presigned_post(
            self.bucket,
            key,  # boto3 adds the exact {"key": key} condition
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", low, max_size]],
            ExpiresIn=expires_s,
        )
        return {
            "method": "POST",
            "url": post["url"],
            "fields": post["fields"],
            "expires_at": expiry_timestamp(expires_s),
        }
