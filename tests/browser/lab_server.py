"""Start JupyterLab the way `make lab` does (free local port, random token), and always stop it."""
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "browser-screenshots"
SERVER_START_SECONDS = 180  # make checks .venv first; JupyterLab itself needs ~5 s

# JupyterLab settings for the test only (a temporary settings folder; the user's stay untouched).
LAB_SETTINGS = {
    # Render every cell, not only those in view, so that formulas and figures can be counted.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # Run All must never write the committed notebooks back to disk.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # No "news" pop-up over the screenshots, and no request to the internet.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


class LabError(RuntimeError):
    pass


@dataclass
class Lab:
    url: str  # http://127.0.0.1:PORT
    token: str

    def api(self, path, method="GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self):
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(path, lines=30):
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def write_lab_settings(folder):
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def stop_server(server, lab):
    """Ask JupyterLab to shut down (it stops its kernels), then end the process group if it must."""
    if server.poll() is None:
        try:
            lab.api("shutdown", method="POST")
        except (OSError, urllib.error.URLError):
            pass
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def running_lab(home, log_path):
    """`make lab` on a free local port with a random token, settings and runtime files in home."""
    write_lab_settings(home / "settings")
    port, token = free_port(), secrets.token_hex(16)
    args = ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            # Opening a notebook makes a checkpoint: keep it out of the project (.ipynb_checkpoints/).
            f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",
            # A safety net if the test is killed before it can stop the server: idle kernels go
            # after 15 minutes, and a server without kernels or activity 15 minutes later.
            "--MappingKernelManager.cull_idle_timeout=900", "--MappingKernelManager.cull_interval=60",
            "--ServerApp.shutdown_no_activity_timeout=900"]
    # The user's own Jupyter configuration (a password, another root folder...) must not change
    # the test; the variables of an enclosing `make test-browser ARGS=...` must not reach `make lab`.
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    previous_sigterm = signal.signal(signal.SIGTERM, raise_keyboard_interrupt)  # so that cleanup runs
    with open(log_path, "w") as log:
        server = subprocess.Popen(["make", "--no-print-directory", "lab", "ARGS=" + " ".join(args)], cwd=ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        lab = Lab(f"http://127.0.0.1:{port}", token)
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while True:
                if server.poll() is not None:
                    raise LabError(f"`make lab` exited with status {server.returncode}; its log ({log_path}):\n"
                                   f"{log_tail(log_path)}")
                try:
                    lab.api("status")
                    break
                except (OSError, urllib.error.URLError):
                    if time.monotonic() > deadline:
                        raise LabError(f"JupyterLab did not answer on port {port} within {SERVER_START_SECONDS} s;"
                                       f" its log ({log_path}):\n{log_tail(log_path)}")
                    time.sleep(0.5)
            yield lab
        finally:
            stop_server(server, lab)
            signal.signal(signal.SIGTERM, previous_sigterm)
