"""What tests take from the developer's environment: nothing that could change a result.

``tests/conftest.py`` removes these variables from the test process for the whole session
(and runs every test in an empty temporary folder, so no ``./.env`` is read), and
``subprocess_env`` builds each subprocess's environment from a short list of OS basics.
"""

import os
import re

HARNESS_PREFIX = "CHATKIT_TEST_"
"""Where the test services are (``CHATKIT_TEST_POSTGRES_URL``, ``CHATKIT_TEST_REDIS_URL``): kept."""

CLEARED_PREFIXES = (
    "CHATKIT_",  # our settings (Settings reads CHATKIT_*)
    "OPENAI_",  # the openai client (key, base URL, org, project) and the Agents SDK (OPENAI_AGENTS_*)
    "OTEL_",  # OpenTelemetry exporters, sampler, resource
    "AWS_",  # botocore: credentials, profile, region, endpoint URL
    "UVICORN_",
    "SQLALCHEMY_",  # SQLALCHEMY_WARN_20 turns on warnings
    "TYPER_",
    "_TYPER_",
)

CLEARED_NAMES = frozenset(
    {
        # httpx and curl send requests through these, 127.0.0.1 included
        *(
            name
            for proxy in ("http", "https", "all", "no")
            for name in (f"{proxy}_proxy", f"{proxy.upper()}_PROXY")
        ),
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        # uvicorn: trusted proxies for X-Forwarded-For, and the default worker count
        "FORWARDED_ALLOW_IPS",
        "WEB_CONCURRENCY",
        # prometheus-client switches to multi-process mode
        "PROMETHEUS_MULTIPROC_DIR",
        "prometheus_multiproc_dir",
        # rich and click: width and colours of CLI output
        "COLUMNS",
        "LINES",
        "FORCE_COLOR",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "TTY_COMPATIBLE",
        "TTY_INTERACTIVE",
        # Python in subprocesses: warnings as errors, stripped asserts, interactive mode, paths
        "PYTHONWARNINGS",
        "PYTHONDEVMODE",
        "PYTHONASYNCIODEBUG",
        "PYTHONOPTIMIZE",
        "PYTHONINSPECT",
        "PYTHONSAFEPATH",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        # Playwright opens a headed browser with its inspector
        "PWDEBUG",
    }
)

_LIBPQ = re.compile(r"PG[A-Z]+")
"""libpq's and asyncpg's PGHOST, PGUSER, PGPASSWORD, PGSSLMODE, PGOPTIONS, ..."""

FIXED = {
    # botocore: no ~/.aws files, no instance-metadata lookups (a network call, then a wait)
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
"""Set for the session and in every subprocess: defaults that keep libraries off ``$HOME``."""

SUBPROCESS_BASE = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")
"""The only variables a subprocess inherits: what the OS and Python need to start."""


def is_cleared(name: str) -> bool:
    """Whether the tests remove ``name`` from their environment."""
    if name.startswith(HARNESS_PREFIX):
        return False
    return (
        name.startswith(CLEARED_PREFIXES)
        or name in CLEARED_NAMES
        or _LIBPQ.fullmatch(name) is not None
    )


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for a subprocess: ``SUBPROCESS_BASE`` from this process, ``FIXED``, then ``extra``.

    Nothing else of the developer's shell reaches the subprocess; pass what it needs in
    ``extra`` (``CHATKIT_*`` settings, ``COLUMNS``, ...).
    """
    base = {name: os.environ[name] for name in SUBPROCESS_BASE if name in os.environ}
    return {**base, **FIXED, **(extra or {})}
