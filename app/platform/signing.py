"""Signed tokens a scanner checks offline, and secrets kept sealed at rest.

A token names a numbered object and a secret of it, signed with an Ed25519 key of its
own issuer (an event, say): whoever holds the issuer's public key checks it without
asking the server, and nobody forges one without the private key. The private key is
kept sealed: encrypted (Fernet) with a key derived from SECRET_KEY, so a copy of the
database alone signs nothing. Changing SECRET_KEY makes the sealed keys unreadable,
so it means issuing new keys (and new tokens).

A token is `<payload>.<signature>`, both base64url without padding: the payload is
the object's number (6 bytes) and its secret (10 bytes), 109 characters in all — a
small QR code.
"""
from __future__ import annotations

import base64
import hashlib
import secrets as random

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

NUMBER_BYTES, SECRET_BYTES, SIGNATURE_BYTES = 6, 10, 64


class BadToken(ValueError):
    """A token that is malformed or whose signature does not hold."""


def _fernet() -> Fernet:
    key = hashlib.sha256(b"guichet.sealed\x00" + current_app.config["SECRET_KEY"].encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: bytes) -> str:
    """A secret as it is stored: encrypted and authenticated."""
    return _fernet().encrypt(value).decode("ascii")


def unseal(sealed: str) -> bytes:
    """A stored secret, readable again; ValueError when SECRET_KEY changed since."""
    try:
        return _fernet().decrypt(sealed.encode("ascii"))
    except InvalidToken:
        raise ValueError("this secret was sealed under another SECRET_KEY") from None


def new_key_pair() -> tuple[str, bytes]:
    """A new Ed25519 key pair: the private key sealed, the public key's 32 raw bytes."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return seal(raw), public


def new_secret() -> str:
    """The secret of a token's object (hex), changed to revoke its tokens."""
    return random.token_hex(SECRET_BYTES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(sealed_private_key: str, number: int, secret: str) -> str:
    """The token of object `number` with its `secret` (hex), signed."""
    payload = number.to_bytes(NUMBER_BYTES, "big") + bytes.fromhex(secret)
    private = Ed25519PrivateKey.from_private_bytes(unseal(sealed_private_key))
    return f"{_b64(payload)}.{_b64(private.sign(payload))}"


def read(token: str) -> tuple[int, str, bytes, bytes]:
    """A token's number, secret, payload and signature, unchecked; BadToken if malformed."""
    text = (token or "").strip()
    payload_text, dot, signature_text = text.partition(".")
    try:
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except (ValueError, TypeError):
        raise BadToken("malformed") from None
    if not dot or len(payload) != NUMBER_BYTES + SECRET_BYTES or len(signature) != SIGNATURE_BYTES:
        raise BadToken("malformed")
    return int.from_bytes(payload[:NUMBER_BYTES], "big"), payload[NUMBER_BYTES:].hex(), payload, signature


def verify(public_key: bytes, token: str) -> tuple[int, str]:
    """The number and secret of a token signed with the private half of `public_key`;
    BadToken otherwise."""
    number, secret, payload, signature = read(token)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, payload)
    except InvalidSignature:
        raise BadToken("bad signature") from None
    return number, secret
