"""
A real nginx on loopback for end-to-end tests, started and stopped by the test.
"""

from __future__ import annotations

import os
import shutil
import socket
from typing import Any

from tests.support import GorProcess, freePort, waitUntil

CONFIG = """
worker_processes 1;
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format gor '$request_method $request_uri $status $request_length';
    access_log {dir}/access.log gor;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "hello $request_uri\\n"; }}
        location /missing {{ return 404 "none\\n"; }}
    }}
}}
"""


def haveNginx() -> bool:
    """
    Whether an nginx binary is installed.
    """
    return shutil.which("nginx") is not None or os.path.exists("/usr/sbin/nginx")


class Nginx:
    """
    One nginx process with an access log of C{METHOD URI STATUS LENGTH} lines.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.port = freePort()
        self.process: GorProcess | None = None

    async def start(self, reactor: Any) -> "Nginx":
        """
        Start nginx and wait until it accepts connections.
        """
        os.makedirs(self.directory, exist_ok=True)
        os.chmod(self.directory, 0o777)
        conf = os.path.join(self.directory, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONFIG.format(dir=self.directory, port=self.port))
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        process = self.process = GorProcess(reactor, [binary, "-c", conf, "-p", self.directory]).start(self.directory)
        await waitUntil(self._accepting, 20, describe=lambda: "nginx did not start: " + process.errText, clock=reactor)
        return self

    def _accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.05).close()
        except OSError:
            return False
        return True

    async def stop(self) -> None:
        """
        Stop nginx (its access log is complete afterwards).
        """
        if self.process is not None and not self.process.ended.called:
            self.process.signal("TERM")
            await self.process.wait(20)

    def accessLog(self) -> list[list[str]]:
        """
        The access log lines, split into fields.
        """
        path = os.path.join(self.directory, "access.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
