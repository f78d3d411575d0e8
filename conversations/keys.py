"""Encryption of provider API keys stored in the database.

Keys are write-only: the product decrypts them only to call the provider and
never renders them back. The cipher key comes from CHATSITE_ENCRYPTION_KEY
(or, when unset, the Django secret key).
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class KeyUnreadable(Exception):
    """The stored key was encrypted with another encryption key."""


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    digest = hashlib.sha256(f"chatsite-provider-keys:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plaintext: str) -> str:
    return _fernet(settings.CHATSITE_ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.CHATSITE_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken:
        raise KeyUnreadable(
            "The stored API key cannot be decrypted with the current encryption key; "
            "enter it again."
        ) from None
