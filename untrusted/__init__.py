"""The one untrusted-input boundary (docs/design.md "Trust boundary").

Every parse of bytes from outside (MQTT payloads, HTTP bodies, scanned payloads) goes
through these bounded parsers, and each refusal is contained by `Rejections`. A leaf
package: it imports nothing of ours, so agent, sync and drivers may all use it.
"""

from untrusted.bounded_json import (
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    bounded_int,
    check_depth,
    parse_json,
    parse_object,
)
from untrusted.contain import Rejections
from untrusted.errors import (
    NotJsonError,
    OutOfRangeError,
    TooDeepError,
    TooLargeError,
    UntrustedInputError,
)

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_DEPTH",
    "NotJsonError",
    "OutOfRangeError",
    "Rejections",
    "TooDeepError",
    "TooLargeError",
    "UntrustedInputError",
    "bounded_int",
    "check_depth",
    "parse_json",
    "parse_object",
]
