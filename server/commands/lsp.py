"""`refute lsp`: the language server, over stdio (default) or TCP."""

from __future__ import annotations

import argparse
import gc
import logging
import sys


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not (0 < int(port) < 65536):
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. 127.0.0.1:2087), got {value!r}")
    return host or "127.0.0.1", int(port)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "lsp",
        help="run the language server (stdio by default)",
        description="Run the refute language server. Editors start it with `refute lsp` and speak LSP over stdio.",
    )
    parser.add_argument("--stdio", action="store_true", help="serve over stdin/stdout (the default; accepted for editors that pass it)")
    parser.add_argument("--tcp", metavar="HOST:PORT", type=_host_port, help="serve over TCP instead of stdio")
    parser.add_argument("--log-file", metavar="PATH", help="write the server's log here (stdout carries LSP, so never there)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(func=run)


def _drop_expected_errors(record: logging.LogRecord) -> bool:
    from pygls.exceptions import JsonRpcException, JsonRpcInternalError

    exc = record.exc_info[1] if record.exc_info else None
    return not (isinstance(exc, JsonRpcException) and not isinstance(exc, JsonRpcInternalError))


def run(args: argparse.Namespace) -> int:
    handler: logging.Handler = logging.FileHandler(args.log_file, encoding="utf-8") if args.log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, args.log_level))
    # pygls logs every message at INFO; keep the editor's stderr readable.
    logging.getLogger("pygls").setLevel(max(logging.WARNING, root.level))
    # pygls logs a traceback for every error response, including the invalid-params
    # errors the server raises on purpose (the client already gets their message).
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_drop_expected_errors)

    # The engine's threads (reading run workers, writing the audit log) share the GIL
    # with the event loop; a shorter switch interval lets a waiting request in sooner.
    sys.setswitchinterval(0.001)

    from refute.server.lsp.server import create_server

    server = create_server()
    # Everything imported so far (pygls, lsprotocol, cattrs: tens of thousands of objects)
    # lives as long as the process: keep it out of the cyclic GC's full collections,
    # which otherwise show up as multi-millisecond pauses in request latency.
    gc.collect()
    gc.freeze()
    if args.tcp:
        host, port = args.tcp
        server.start_tcp(host, port)
    else:
        server.start_io()
    return 0
