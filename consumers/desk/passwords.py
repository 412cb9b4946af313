"""Password hashes (stdlib scrypt) and session tokens for desk users."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

# RFC 7914's interactive-login parameters (about 50 ms and 16 MiB per hash): slow enough to
# make guessing a stolen hash expensive, fast enough for a login. Kept in every hash, so they
# can be raised later without invalidating stored passwords.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAX_MEMORY = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=_KEY_BYTES
    )


def hash_password(password: str) -> str:
    """'scrypt$n$r$p$salt$key' for the desk_user table."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether the password matches the stored hash; a malformed hash matches nothing."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
        return hmac.compare_digest(computed, _unb64(key))
    except ValueError:
        return False


@functools.cache
def dummy_hash() -> str:
    """A hash of no real password, for unknown usernames.

    Checking it makes an unknown name take as long as a wrong password, so response times do
    not reveal which usernames exist.
    """
    return hash_password(secrets.token_urlsafe(16))


def new_token() -> str:
    """A random session or CSRF token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # The token carries 256 random bits: a fast hash suffices, it only keeps a stolen table
    # from being a list of live sessions.
    return hashlib.sha256(token.encode()).hexdigest()
