"""Keeping an MCP server's secret settings out of errors, reprs and logs.

What of an MCP server's settings must never be shown, and the scrubbing that keeps
it out of errors, reprs and logs.

An MCP server's settings carry credentials in many places: a stdio server's
arguments (``--token ...``) and environment, an HTTP server's URL (``user:password@``,
``?api_key=``, a key as a path segment) and headers (``Authorization``). The rule is
conservative: a setting is shown only when it is known to be harmless, and every
value that might be a secret is *scrubbed*, replaced by ``[redacted]`` wherever it
would appear: in the errors this package raises (and so in step errors, the error
Inngest records and the ``run.failed`` stream event), in the tool errors the model
reads, and in the log records of this package and of the libraries that carry MCP
traffic (the ``mcp`` SDK, ``httpx``/``httpx2``, ``httpcore``, ``websockets``),
tracebacks included.

Values shorter than 4 characters are never scrubbed (they would garble every text);
other values are, from 8 characters on, or from 4 under a name that says "secret"
(``--token``, ``API_KEY``, ``Authorization``...). ``MCPServer(secrets=[...])`` adds
strings of any length.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import urllib.parse
import weakref
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "REDACTED",
    "Secrets",
    "header_secrets",
    "install_log_scrubbing",
    "public_url",
    "shown_command",
    "stdio_secrets",
    "url_secrets",
]

REDACTED = "[redacted]"
HIDDEN = "***"
MIN_SECRET = 8
MIN_NAMED_SECRET = 4

_SECRET_NAME = re.compile(
    r"token|key|secret|passw|pwd|auth|credential|bearer|session|cookie|signature|sig\b",
    re.IGNORECASE,
)
_SCRIPT = re.compile(r"\.(py|pyz|js|mjs|cjs|ts|mts|jar|sh|rb|php|pl|exe|dll)$", re.IGNORECASE)
_HAS_LETTER = re.compile(r"[A-Za-z]")
_HAS_DIGIT = re.compile(r"\d")


def _named(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _keep(value: str, *, named: bool) -> bool:
    """Whether ``value`` is long enough to be scrubbed."""
    return len(value) >= (MIN_NAMED_SECRET if named else MIN_SECRET)


class Secrets:
    """The strings of one server's settings that must not be shown."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        unique = {value for value in values if isinstance(value, str) and value}
        # longest first: "user:password" goes before "password"
        self.values: tuple[str, ...] = tuple(sorted(unique, key=lambda v: (-len(v), v)))

    def __bool__(self) -> bool:
        return bool(self.values)

    def __repr__(self) -> str:
        return f"<Secrets: {len(self.values)} values>"

    def found_in(self, text: str) -> bool:
        """Whether ``text`` contains one of the secrets."""
        return any(value in text for value in self.values)

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by ``[redacted]``."""
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


# -- what a transport's settings hold -----------------------------------------------------


def _flag(arg: str) -> bool:
    return arg.startswith("-") and len(arg) > 1 and "=" not in arg


def _stdio_parts(args: Sequence[str]) -> list[tuple[str, str | None]]:
    """Each argument as ``(shown, secret)``.

    What a description shows of it and the value it hides (``None`` when nothing).
    """
    parts: list[tuple[str, str | None]] = []
    after_named_flag = False
    for arg in args:
        named_value = after_named_flag
        after_named_flag = False
        if _flag(arg):
            parts.append((arg, None))
            after_named_flag = _named(arg)
        elif arg.startswith("-") and "=" in arg:
            flag, _, value = arg.partition("=")
            parts.append((f"{flag}={HIDDEN}", value))
        elif not named_value and (_SCRIPT.search(arg) or len(arg) < MIN_SECRET):
            parts.append((arg, None))
        else:
            parts.append((HIDDEN, arg))
    return parts


def shown_command(command: str, args: Sequence[str]) -> str:
    """A stdio command line as errors and reprs show it.

    Flags, script files and short arguments as they are, every other argument (and every
    ``--flag=value`` value, every value after a flag such as ``--token``) as ``***``.
    """
    return " ".join([command, *(shown for shown, _ in _stdio_parts(args))])


def stdio_secrets(
    args: Sequence[str], env: Iterable[tuple[str, str]] | Mapping[str, str] | None
) -> list[str]:
    """The values of a stdio server's arguments and environment to scrub."""
    found: list[str] = []
    after_named_flag = False
    for (_, hidden), arg in zip(_stdio_parts(args), args, strict=True):
        named = after_named_flag or (arg.startswith("-") and _named(arg.partition("=")[0]))
        after_named_flag = _flag(arg) and _named(arg)
        if hidden is not None and _keep(hidden, named=named):
            found.append(hidden)
    pairs = env.items() if isinstance(env, Mapping) else (env or ())
    for name, value in pairs:
        if isinstance(value, str) and _keep(value, named=_named(str(name))):
            found.append(value)
    return found


def public_url(url: str) -> str:
    """``url`` as errors and reprs show it.

    No user, password, query or fragment, and ``***`` for path segments that look like keys (16+
    characters mixing letters and digits).
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<the URL given>"
    if ":" in host:
        host = f"[{host}]"
    path = "/".join(HIDDEN if _key_like(s) else s for s in parts.path.split("/"))
    return urllib.parse.urlunsplit((parts.scheme, f"{host}{port}", path, "", ""))


def _key_like(segment: str) -> bool:
    return len(segment) >= 16 and bool(_HAS_LETTER.search(segment) and _HAS_DIGIT.search(segment))


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` to scrub.

    Its user information (as given, decoded and as the Basic credentials it becomes), its query and
    fragment and their values, and path segments that look like keys.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        password, username = parts.password, parts.username
    except ValueError:
        return [url]
    found: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        found.append(userinfo)
    if password:
        plain_user = urllib.parse.unquote(username or "")
        plain = urllib.parse.unquote(password)
        found += [password, plain, f"{plain_user}:{plain}"]
        basic = base64.b64encode(f"{plain_user}:{plain}".encode()).decode()
        found.append(basic)
    for text in (parts.query, parts.fragment):
        if not text:
            continue
        if _keep(text, named=False):
            found.append(text)
        for name, value in urllib.parse.parse_qsl(text, keep_blank_values=False):
            if _keep(value, named=_named(name)):
                raw = urllib.parse.quote_plus(value)
                found += [value, raw, urllib.parse.quote(value, safe="")]
    found += [s for s in parts.path.split("/") if _key_like(s)]
    return [value for value in found if value]


def header_secrets(headers: Iterable[tuple[str, str]]) -> list[str]:
    """Header values to scrub.

    Every value of 8+ characters (4+ under a name such as ``Authorization``), and each word of it
    (the token after ``Bearer``).
    """
    found: list[str] = []
    for name, value in headers:
        named = _named(name) or name.lower() in ("cookie", "proxy-authorization")
        for piece in [value, *value.split()]:
            if _keep(piece, named=named):
                found.append(piece)
    return found


# -- logs -----------------------------------------------------------------------------------

_LOGGERS = (
    "agentkit_inngest",
    "agentkit_inngest.mcp",
    "inngest",
    "asyncio",
    "uvicorn.error",
    "client",  # the mcp SDK's ClientSession logs here
    "mcp",
    "mcp.client.client",
    "mcp.client.stdio",
    "mcp.client.sse",
    "mcp.client.streamable_http",
    "mcp.client.session",
    "mcp.client.auth.oauth2",
    "mcp.client.caching",
    "mcp.shared.session",
    "mcp.shared.dispatcher",
    "mcp.shared.jsonrpc_dispatcher",
    "mcp.shared.direct_dispatcher",
    "mcp.os.posix.utilities",
    "mcp.os.win32.utilities",
    "httpx",
    "httpx2",
    "websockets",
    "websockets.client",
    "websockets.protocol",
    *(
        f"{core}.{part}"
        for core in ("httpcore", "httpcore2")
        for part in ("connection", "http11", "http2", "proxy", "socks")
    ),
)
_PREFIXES = ("mcp.", "httpcore", "httpx", "websockets", "agentkit_inngest.")

_live: weakref.WeakSet[Secrets] = weakref.WeakSet()
_lock = threading.Lock()


class _Scrubber(logging.Filter):
    """Rewrites a log record that mentions a secret of a live MCP server.

    It rewrites the record's message (formatted, without its arguments) and its
    traceback (as text, without the exception object). Records that mention none are
    left as they are.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place; always keep it."""
        with _lock:
            live = list(_live)
        if not live:
            return True
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record: leave it to logging
            return True
        message = _scrubbed(text, live)
        if message is not None:
            record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            formatted = logging.Formatter().formatException(record.exc_info)
            if any(secrets.found_in(formatted) for secrets in live):
                record.exc_text = formatted  # scrubbed below; the handlers' formatters use it
        for field in ("exc_text", "stack_info"):
            value = getattr(record, field, None)
            scrubbed = _scrubbed(value, live) if isinstance(value, str) else None
            if scrubbed is not None:
                setattr(record, field, scrubbed)
                if field == "exc_text":
                    record.exc_info = None  # the exception object still holds the secret
        return True


def _scrubbed(text: str, live: list[Secrets]) -> str | None:
    """``text`` with the secrets of ``live`` scrubbed; ``None`` when it mentions none."""
    if not any(secrets.found_in(text) for secrets in live):
        return None
    for secrets in live:
        text = secrets.scrub(text)
    return text


_SCRUBBER = _Scrubber()


def install_log_scrubbing(secrets: Secrets) -> None:
    """Keep ``secrets`` out of the log records of MCP traffic.

    Both this package's records and those of the libraries MCP traffic goes through, for as long as
    ``secrets`` is alive.
    """
    if not secrets:
        return
    with _lock:
        _live.add(secrets)
    names = set(_LOGGERS)
    names.update(
        name for name in list(logging.Logger.manager.loggerDict) if name.startswith(_PREFIXES)
    )
    for name in names:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)
