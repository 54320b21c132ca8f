"""End-user authentication of the booking service: the shared verifier
(services/user_auth.py), which the tracking service uses too."""

from services.user_auth import (
    JwksSource,
    JwtAuthenticator,
    KeySet,
    PublicMethods,
    build_auth,
)

__all__ = ["JwksSource", "JwtAuthenticator", "KeySet", "PublicMethods", "build_auth"]
