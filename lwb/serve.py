"""``lwb app``: serve the Streamlit app on a runs root and say when it answers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import app
from workbench.errors import UserError


def serve(root: Path, *, port: int, host: str = "127.0.0.1", timeout: float = 120.0) -> int:
    """Serve the Streamlit app on HOST:PORT; print "app ready at URL" once it answers."""
    def stop(signum: int, frame: object) -> None:  # SIGTERM: stop the server too
        raise SystemExit(128 + signum)

    if not root.is_dir():
        raise UserError("the runs root is not a directory", file=root)
    main_script = Path(app.__file__).parent / "main.py"
    command = [sys.executable, "-m", "streamlit", "run", str(main_script),
               "--server.address", host, "--server.port", str(port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.scriptHealthCheckEnabled", "true", "--client.toolbarMode", "minimal",
               "--server.maxUploadSize", "1", "--server.maxMessageSize", "64",
               "--", "--runs", str(root.resolve())]
    url = f"http://{host}:{port}"
    proc = subprocess.Popen(command)
    signal.signal(signal.SIGTERM, stop)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise UserError(f"the app exited with status {proc.returncode} before it "
                                f"answered (is port {port} in use?)", field="port")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise UserError(f"no answer from {url} within {timeout:g} s", field="port")
            time.sleep(0.2)
        # Run the app's script once (Streamlit's script health check): it loads the libraries
        # every page uses, so the first visitor does not wait for them.
        try:
            with urllib.request.urlopen(f"{url}/_stcore/script-health-check",
                                        timeout=timeout) as r:
                r.read()
        except OSError as e:
            print(f"lwb: warning: the app's script did not run cleanly ({e}); see the log above",
                  file=sys.stderr, flush=True)
        print(f"app ready at {url}", flush=True)
        return proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
