"""Backdrop auth service: users, sessions, refresh tokens, signing keys and the JWKS."""
