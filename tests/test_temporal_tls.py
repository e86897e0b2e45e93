"""The Temporal client over mutual TLS, for real: a TLS endpoint (certificates made with
openssl, client certificates required) in front of the dev server's frontend."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from services.settings import Settings
from services.temporal import connect
from tests.tools import require_tools

SERVER_NAME = "temporal.test"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def certificate(directory: Path, name: str, common_name: str, extensions: str, ca: str = "ca") -> None:
    """A key and a certificate signed by the ``ca`` of ``directory``."""
    (directory / f"{name}.ext").write_text(extensions)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={common_name}", cwd=directory)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tools("openssl")
    directory = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "1", "-subj", f"/CN={ca}", cwd=directory)  # fmt: skip
    certificate(directory, "server", SERVER_NAME, f"subjectAltName=DNS:{SERVER_NAME}\nextendedKeyUsage=serverAuth\n")
    certificate(directory, "client", "lifecycles", "extendedKeyUsage=clientAuth\n")
    return directory


@contextlib.asynccontextmanager
async def tls_frontend(pki: Path, upstream: str) -> AsyncIterator[int]:
    """A TLS endpoint requiring a client certificate from ``ca``, relaying to the plaintext frontend."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = upstream.rsplit(":", 1)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)


def settings_for(port: int, ca: Path, client: Path | None = None) -> Settings:
    return Settings(
        temporal_address=f"127.0.0.1:{port}",
        temporal_tls_server_name=SERVER_NAME,
        temporal_tls_ca_cert=ca,
        temporal_tls_client_cert=client / "client.pem" if client else None,
        temporal_tls_client_key=client / "client.key" if client else None,
    )


async def test_the_client_connects_with_mutual_tls(local_env: WorkflowEnvironment, pki: Path):
    upstream = local_env.client.service_client.config.target_host
    async with tls_frontend(pki, upstream) as port:
        client = await connect(settings_for(port, pki / "ca.pem", client=pki))
        assert await client.service_client.check_health()
        assert [w async for w in client.list_workflows("WorkflowId = 'nothing-here'")] == []


async def test_without_a_client_certificate_or_trusting_another_ca_it_does_not_connect(
    local_env: WorkflowEnvironment, pki: Path
):
    upstream = local_env.client.service_client.config.target_host
    async with tls_frontend(pki, upstream) as port:
        for settings in (settings_for(port, pki / "ca.pem"), settings_for(port, pki / "other-ca.pem", client=pki)):
            with pytest.raises(RuntimeError):
                client = await connect(settings)
                await client.service_client.check_health()
