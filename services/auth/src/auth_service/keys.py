"""Ed25519 signing keys: generated once, encrypted at rest, rotated, published as a JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import zlib
from typing import Any

from backdrop_common.db import Database
from backdrop_common.errors import Unauthorized
from backdrop_common.tokens import ALGORITHM
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import OKPAlgorithm

_HKDF_INFO = b"backdrop-auth signing-key encryption v1"
_LOCK_KEY = zlib.crc32(b"backdrop-auth:signing-keys")

# A retired key stays published (and valid) for one access-token lifetime after retirement.
_VALID = "(retired_at IS NULL OR retired_at > now() - make_interval(secs => %s))"


def fernet_for(secret_key: str) -> Fernet:
    """The Fernet cipher whose key is derived (HKDF-SHA256) from ``secret_key``."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(raw))


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The public JWK of ``public_key``; its ``kid`` is the RFC 7638 thumbprint."""
    jwk: dict[str, Any] = dict(OKPAlgorithm.to_jwk(public_key, as_dict=True))
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    thumb = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")
    jwk.update({"kid": thumb.decode("ascii"), "use": "sig", "alg": ALGORITHM})
    return jwk


class KeyStore:
    """Signing keys in ``auth.signing_keys``; private halves decrypted once and cached."""

    def __init__(self, db: Database, secret_key: str, access_token_ttl: int) -> None:
        self.db = db
        self.fernet = fernet_for(secret_key)
        self.ttl = access_token_ttl
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._public: dict[str, Ed25519PublicKey] = {}
        self._lock = threading.Lock()

    def _insert_new(self, cur: Any) -> str:
        key = Ed25519PrivateKey.generate()
        jwk = public_jwk(key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cur.execute(
            "INSERT INTO auth.signing_keys (kid, private_key_encrypted, public_jwk)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING kid",
            (jwk["kid"], self.fernet.encrypt(pem).decode("ascii"), json.dumps(jwk)),
        )
        row = cur.fetchone()
        if row is None:
            raise RuntimeError("another process created an active signing key concurrently")
        return str(row["kid"])

    def ensure_active(self) -> str:
        """The kid of the active key, generating one first if there is none."""
        with self.db.cursor() as cur:
            cur.execute("SELECT kid FROM auth.signing_keys WHERE retired_at IS NULL")
            row = cur.fetchone()
            if row is not None:
                return str(row["kid"])
            # Serialise with other starters and rotate-key; re-read after the lock.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute("SELECT kid FROM auth.signing_keys WHERE retired_at IS NULL")
            row = cur.fetchone()
            return str(row["kid"]) if row is not None else self._insert_new(cur)

    def rotate(self) -> str:
        """Retire the active key and make a new one active; returns the new kid."""
        with self.db.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute("UPDATE auth.signing_keys SET retired_at = now() WHERE retired_at IS NULL")
            return self._insert_new(cur)

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        """The active key's kid and private key."""
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT kid, private_key_encrypted FROM auth.signing_keys WHERE retired_at IS NULL"
            )
            row = cur.fetchone()
        if row is None:
            self.ensure_active()
            return self.signing_key()
        kid = str(row["kid"])
        with self._lock:
            key = self._private.get(kid)
            if key is None:
                pem = self.fernet.decrypt(row["private_key_encrypted"].encode("ascii"))
                loaded = serialization.load_pem_private_key(pem, password=None)
                if not isinstance(loaded, Ed25519PrivateKey):
                    raise RuntimeError(f"signing key {kid} is not an Ed25519 key")
                key = self._private[kid] = loaded
        return kid, key

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for ``kid`` while it is still valid, else ``None``."""
        with self.db.cursor() as cur:
            cur.execute(
                f"SELECT public_jwk FROM auth.signing_keys WHERE kid = %s AND {_VALID}",  # noqa: S608 - constant
                (kid, self.ttl),
            )
            row = cur.fetchone()
        if row is None:
            return None
        with self._lock:
            key = self._public.get(kid)
            if key is None:
                loaded = OKPAlgorithm.from_jwk(row["public_jwk"])
                if not isinstance(loaded, Ed25519PublicKey):
                    return None
                key = self._public[kid] = loaded
        return key

    def jwks(self) -> list[dict[str, Any]]:
        """Public JWKs of every key that may still have valid tokens, newest first."""
        with self.db.cursor() as cur:
            cur.execute(
                f"SELECT public_jwk FROM auth.signing_keys WHERE {_VALID}"  # noqa: S608 - constant
                " ORDER BY created_at DESC",
                (self.ttl,),
            )
            return [dict(row["public_jwk"]) for row in cur.fetchall()]


class LocalKeyResolver:
    """A ``backdrop_common.tokens.KeyResolver`` reading the auth database directly."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def __call__(self, kid: str) -> Ed25519PublicKey:
        """The public key for ``kid``, or ``Unauthorized`` if unknown or expired."""
        key = self.keys.public_key(kid)
        if key is None:
            raise Unauthorized("The token was signed with an unknown key.")
        return key
