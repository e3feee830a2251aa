"""Errors raised by the untrusted-input boundary.

Every parser here raises `UntrustedInputError` (or a subclass) and nothing else for any
input, so a caller contains a bad message with one `except`. json's ValueError,
UnicodeDecodeError and RecursionError are translated at this boundary.
"""

__all__ = ["NotJsonError", "OutOfRangeError", "TooDeepError", "TooLargeError", "UntrustedInputError"]


class UntrustedInputError(Exception):
    """Root: bytes from outside were refused."""


class TooLargeError(UntrustedInputError):
    """More bytes than the caller accepts."""


class TooDeepError(UntrustedInputError):
    """JSON nested deeper than the caller accepts (found before any recursion)."""


class NotJsonError(UntrustedInputError):
    """Not UTF-8 JSON, or not the JSON type the caller asked for."""


class OutOfRangeError(UntrustedInputError):
    """A number outside the accepted range (ints beyond +-2^63, inf, nan)."""
