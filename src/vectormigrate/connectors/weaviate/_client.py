"""Opening a weaviate-client v4 connection: custom REST + gRPC endpoints, or Weaviate Cloud.

The client is connected with ``skip_init_checks=True`` and checked here instead, because its own start-up
checks also fetch ``https://pypi.org/pypi/weaviate-client/json`` on every connect (a network call a
migration tool should not make behind the user's back). What the skipped checks covered is done explicitly:
``connect()`` still reads ``/v1/meta`` (REST reachable, key accepted, version >= 1.27), and :func:`probe_grpc`
calls the gRPC health service once, with a deadline. Without that probe a wrong gRPC port would only show up at
the first query, after the client's own retries on UNAVAILABLE (1+2+4+8+16+32 s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import grpc  # type: ignore[import-untyped]
import weaviate
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.proto.v1 import health_weaviate_pb2

from vectormigrate.connectors.weaviate._errors import translate_errors
from vectormigrate.errors import ConfigError, UnreachableError, redact

__all__ = ["Endpoint", "open_client", "parse_endpoint", "probe_grpc"]

_CLOUD_SUFFIXES = (".weaviate.cloud", ".weaviate.network", ".wcs.api.weaviate.io")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the REST and gRPC APIs of one Weaviate are."""

    url: str
    http_host: str
    http_port: int
    http_secure: bool
    grpc_host: str
    grpc_port: int
    grpc_secure: bool
    cloud: bool


def parse_endpoint(url: str | None, *, grpc_port: int, grpc_host: str | None, cloud: bool | None) -> Endpoint:
    """The endpoints of ``url`` (``http(s)://host[:port]``); a ``*.weaviate.cloud`` host means Weaviate Cloud.

    Raises:
        ConfigError: no URL, or not an http(s) URL.
    """
    if not url or not url.startswith(("http://", "https://")):
        msg = f"weaviate needs a server URL such as http://localhost:8080, not {url!r}"
        raise ConfigError(msg, hint="pass --source-url / --target-url http(s)://HOST:PORT (Weaviate has no local "
                                    "file mode); the gRPC port is --*-option grpc_port=50051")
    parts = urlsplit(url)
    if not parts.hostname:
        msg = f"weaviate URL {url!r} has no host"
        raise ConfigError(msg, hint="use http(s)://HOST:PORT")
    secure = parts.scheme == "https"
    host = parts.hostname
    is_cloud = cloud if cloud is not None else host.endswith(_CLOUD_SUFFIXES)
    return Endpoint(url=f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}", http_host=host,
                    http_port=parts.port or (443 if secure else 80), http_secure=secure,
                    grpc_host=grpc_host or host, grpc_port=grpc_port, grpc_secure=secure, cloud=is_cloud)


class _DropBatchErrorLogs(logging.Filter):
    """Drop the client's ERROR log of failed batch objects.

    ``insert_many`` logs every failed object with its vector and properties; the connector reports the failure
    itself (a RecordError naming the record), and dumping record contents into logs leaks user data.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg
        return not (isinstance(msg, dict) and "Failed to send" in str(msg.get("message", "")))


_FILTER = _DropBatchErrorLogs()


def open_client(endpoint: Endpoint, api_key: str | None, *, timeout: float | None) -> weaviate.WeaviateClient:
    """A connected client, after a REST round trip (``/v1/meta``) and a gRPC health check.

    Raises:
        UnreachableError: nothing answers on the REST or gRPC port.
        AuthenticationError: the key is refused.
    """
    logging.getLogger("weaviate-client").addFilter(_FILTER)  # idempotent: a logger holds a filter once
    init = min(timeout, 10.0) if timeout else 5.0
    timeouts = Timeout(init=init, query=timeout or 60, insert=timeout or 120)
    config = AdditionalConfig(timeout=timeouts)
    auth = Auth.api_key(api_key) if api_key else None
    with translate_errors(where=endpoint.url, secrets=(api_key,)):
        if endpoint.cloud:
            # Weaviate Cloud derives the gRPC host (grpc-<cluster>) itself; its endpoints are managed, so no probe.
            if auth is None:
                msg = f"Weaviate Cloud ({endpoint.url}) needs an API key"
                raise ConfigError(msg, hint="pass --source-api-key / --target-api-key (the cluster's API key)")
            return weaviate.connect_to_weaviate_cloud(cluster_url=endpoint.url, auth_credentials=auth,
                                                      additional_config=config, skip_init_checks=True)
        client = weaviate.connect_to_custom(
            http_host=endpoint.http_host, http_port=endpoint.http_port, http_secure=endpoint.http_secure,
            grpc_host=endpoint.grpc_host, grpc_port=endpoint.grpc_port, grpc_secure=endpoint.grpc_secure,
            auth_credentials=auth, additional_config=config, skip_init_checks=True)
    try:
        probe_grpc(endpoint, api_key, timeout=init)
    except BaseException:
        client.close()
        raise
    return client


def probe_grpc(endpoint: Endpoint, api_key: str | None, *, timeout: float) -> None:
    """One ``grpc.health.v1.Health/Check`` call, as the client's start-up check makes it.

    Raises:
        UnreachableError: the gRPC port does not answer, or Weaviate reports NOT_SERVING.
        AuthenticationError: the key is refused over gRPC.
    """
    target = f"{endpoint.grpc_host}:{endpoint.grpc_port}"
    channel: Any = (grpc.secure_channel(target, grpc.ssl_channel_credentials()) if endpoint.grpc_secure
                    else grpc.insecure_channel(target))
    try:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_weaviate_pb2.WeaviateHealthCheckRequest.SerializeToString,
            response_deserializer=health_weaviate_pb2.WeaviateHealthCheckResponse.FromString)
        metadata = [("authorization", f"Bearer {api_key}")] if api_key else None
        with translate_errors(where=f"{endpoint.url} (gRPC {target})", secrets=(api_key,)):
            try:
                reply = check(health_weaviate_pb2.WeaviateHealthCheckRequest(), timeout=timeout, metadata=metadata)
            except grpc.RpcError as exc:
                code = getattr(exc.code(), "name", "")
                if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
                    raise
                msg = (f"weaviate at {endpoint.url} answers on REST but not on gRPC at {target} "
                       f"({code}: {redact(str(exc.details()), (api_key,))})")
                raise UnreachableError(msg, hint="the gRPC port is --*-option grpc_port=... (Weaviate's default is "
                                                 "50051; Docker setups must publish it too)", url=endpoint.url) \
                    from exc
    finally:
        channel.close()
    if reply.status != health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING:
        msg = f"weaviate's gRPC service at {target} reports it is not serving"
        raise UnreachableError(msg, hint="wait until Weaviate is ready, then retry", url=endpoint.url)
