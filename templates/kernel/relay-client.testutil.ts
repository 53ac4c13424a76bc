// For the templates' tests: Python that reaches a job's kernel the way the agent does, through
// hpc_jupyter.relay. It opens one plain local port per channel and carries each connection over
// mutual TLS (the session's kernel-tls files, checked against connection.json's server name) to
// the relay port connection.json names, so jupyter_client can talk to the kernel unchanged.

/**
 * Defines `relay_client(connection_file, key_file, session_dir)`: a started BlockingKernelClient
 * whose channels go through the relay. Prepend it to a test's Python.
 */
export const RELAY_CLIENT_PY = String.raw`
import asyncio, json, os, ssl, threading
from jupyter_client import BlockingKernelClient

CHANNELS = ("shell", "iopub", "stdin", "control", "hb")

def _tls_context(session_dir, tls):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(os.path.join(session_dir, tls["ca"]))
    ctx.load_cert_chain(os.path.join(session_dir, tls["cert"]), os.path.join(session_dir, tls["key"]))
    return ctx

async def _pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        writer.close()

def relay_client(connection_file, key_file, session_dir):
    info = json.load(open(connection_file))
    tls = info["tls"]
    ctx = _tls_context(session_dir, tls)
    loop = asyncio.new_event_loop()
    local = {}
    async def start():
        for channel in CHANNELS:
            port = info[channel + "_port"]
            async def handle(r, w, port=port):
                try:
                    rr, ww = await asyncio.open_connection(
                        info["ip"], port, ssl=ctx, server_hostname=tls["server_name"])
                except (OSError, ssl.SSLError):
                    w.close()
                    return
                await asyncio.gather(_pipe(r, ww), _pipe(rr, w))
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            local[channel] = server.sockets[0].getsockname()[1]
    loop.run_until_complete(start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    client = BlockingKernelClient()
    client.load_connection_info({
        "ip": "127.0.0.1", "transport": "tcp", "signature_scheme": info["signature_scheme"],
        "key": open(key_file).read().strip(),
        **{channel + "_port": local[channel] for channel in CHANNELS},
    })
    client.start_channels()
    return client
`;
