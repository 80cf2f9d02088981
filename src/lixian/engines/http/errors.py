"""aiohttp's exceptions, converted once into lixian's (httpcore's map_exceptions idea)."""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Iterator

import aiohttp

from lixian.errors import Aria2Code, BadUri, LixianError, NameResolution, NetworkError, Timeout

__all__ = ["map_aiohttp_errors"]


@contextlib.contextmanager
def map_aiohttp_errors(url: str) -> Iterator[None]:
    url = _redact(url)
    try:
        yield
    except LixianError:
        raise
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise Timeout(f"timed out talking to {url}") from exc
    except aiohttp.InvalidURL as exc:
        raise BadUri(f"invalid URL: {url}") from exc
    except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError) as exc:
        # aria2c ends a TLS failure with code 1; a bad certificate does not get better
        # by asking again.
        err = NetworkError(f"TLS error with {url}: {_redact(str(exc))}", code=Aria2Code.UNKNOWN)
        err.retryable = False
        raise err from exc
    except aiohttp.ClientHttpProxyError as exc:
        # The proxy refused the tunnel (CONNECT): aria2c stops at once with code 1.
        err = NetworkError(
            f"proxy refused the connection to {url}: HTTP {exc.status}", code=Aria2Code.UNKNOWN
        )
        err.retryable = False
        raise err from exc
    except aiohttp.ClientConnectorDNSError as exc:
        raise NameResolution(f"cannot resolve the host of {url}") from exc
    except aiohttp.ClientConnectorError as exc:
        # Could not connect at all (refused, unreachable): aria2c ends that with code 1,
        # keeping 6 for a connection that broke mid-transfer.
        raise NetworkError(
            f"cannot connect to {url}: {_redact(str(exc.os_error)) or type(exc).__name__}",
            code=Aria2Code.UNKNOWN,
        ) from exc
    except (aiohttp.ClientError, ConnectionError, OSError) as exc:
        raise NetworkError(
            f"network error with {url}: {_redact(str(exc)) or type(exc).__name__}"
        ) from exc


_CREDENTIALS = re.compile(r"(//)[^/@\s]+@")


def _redact(text: str) -> str:
    """aiohttp's messages quote proxy URLs with their passwords: never repeat those."""
    return _CREDENTIALS.sub(r"\1***@", text)
