"""Connecting to Temporal, the same way from the API, the worker and the tools."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from services.settings import Settings
from services.telemetry import temporal_plugins
from workflows.engine.visibility import ALL_KEYS

# One per process, so its cache of pydantic TypeAdapters stays warm.
_PYDANTIC_JSON = PydanticJSONPlainPayloadConverter()


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """temporalio's pydantic payload converter, its JSON converter built once per process.

    The SDK (1.35) makes a data converter for every workflow activation it decodes and
    every completion it encodes, and each builds its payload converter anew: the pydantic
    one made a fresh JSON converter, whose empty TypeAdapter cache then built an adapter
    for every payload (~10% of the worker's CPU per transition, py-spy). The converters
    hold no per-workflow state, so these share one; the bytes are the same.
    """

    def __init__(self) -> None:
        CompositePayloadConverter.__init__(
            self,
            *(
                _PYDANTIC_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            ),
        )


DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS to Temporal's frontend as the settings ask: off, system roots, a CA, mutual TLS."""
    if not settings.temporal_uses_tls:
        return False
    ca, cert, key = settings.temporal_tls_ca_cert, settings.temporal_tls_client_cert, settings.temporal_tls_client_key
    if ca is None and cert is None and settings.temporal_tls_server_name is None:
        return True
    return TLSConfig(
        server_root_ca_cert=ca.read_bytes() if ca else None,
        client_cert=cert.read_bytes() if cert else None,
        client_private_key=key.read_bytes() if key else None,
        domain=settings.temporal_tls_server_name,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """``runtime``: the worker's, exporting the SDK's metrics (services/metrics.py)."""
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        tls=tls_config(settings),
        api_key=api_key.get_secret_value() if api_key else None,
        plugins=temporal_plugins(),
        runtime=runtime,
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the custom search attributes the workflows set, if they are missing."""
    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        existing = set(listed.custom_attributes)
    except RPCError as exc:
        # The time-skipping test server can add search attributes but not list them.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in ALL_KEYS
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )


# The enum values match the API's: keep this assertion so a renumbering is noticed.
assert int(SearchAttributeIndexedValueType.KEYWORD) == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
