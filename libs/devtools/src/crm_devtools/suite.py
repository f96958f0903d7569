"""Run the five services as separate processes, as the local stack and the e2e tests do.

`crm-suite up` starts Keycloak (if it is not running), migrates, starts every service in the
background, waits for `/readyz`, seeds the demo workspace (the demo users' memberships first)
and prints the URLs, the issuer, the demo users and how to get a token; `crm-suite down` stops
the services. Every service verifies tokens from the local issuer and connects to the closed
broker as its own principal (`crm_devtools.principals.service_env`).
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from crm_devtools import identity, principals
from crm_devtools.ready import wait_ready

SERVICES = {"intake": 8001, "dedup": 8002, "customer": 8003, "allocation": 8004, "timeline": 8005}
CONSOLE_PORT = 8000  # the address the identity provider's `crm-console` client redirects to
REPO = Path(__file__).resolve().parents[4]


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    module: str = ""  # `python -m <module> serve`; default `<name>_svc`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module or f"{self.name}_svc", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (crash tests)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM and wait: the graceful path."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_ready(self, timeout: float = 60) -> None:
        def exited() -> str | None:
            if self.process and self.process.poll() is not None:
                return f"{self.name}-svc exited with {self.process.returncode}; see {self.log_path}"
            return None

        wait_ready(f"{self.name} (log {self.log_path})", self.url, timeout, exited)


@dataclass
class Suite:
    """A set of service processes sharing env overrides (databases, topic namespace, ports)."""

    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port_offset: int = 0
    processes: list[ServiceProcess] = field(default_factory=list)

    def service_env(self, name: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        prefix = name.upper() + "_"
        # Its own broker principal and the local issuer; what the suite sets wins.
        own = {**principals.service_env(f"{name}-svc"), f"{prefix}OIDC_ISSUER": identity.issuer_url()}
        env = {**os.environ, **own, **self.env, f"{prefix}HTTP_PORT": str(port)}
        env.setdefault("CUSTOMER_DEDUP_URL", f"http://127.0.0.1:{SERVICES['dedup'] + self.port_offset}")
        env.setdefault("INTAKE_CUSTOMER_URL", f"http://127.0.0.1:{SERVICES['customer'] + self.port_offset}")
        env.setdefault("TIMELINE_CUSTOMER_URL", f"http://127.0.0.1:{SERVICES['customer'] + self.port_offset}")
        env.update(extra or {})
        return env

    def migrate(self) -> None:
        for name in SERVICES:
            subprocess.run([sys.executable, "-m", f"{name}_svc", "migrate"], env=self.service_env(name, 0), check=True, capture_output=True)

    def start(self, name: str, instance: int = 0, extra: dict[str, str] | None = None) -> ServiceProcess:
        port = SERVICES[name] + self.port_offset + 10 * instance
        self.log_dir.mkdir(parents=True, exist_ok=True)
        proc = ServiceProcess(name, port, self.service_env(name, port, extra), self.log_dir / f"{name}-{instance}.log")
        proc.start()
        self.processes.append(proc)
        return proc

    def console_env(self, port: int) -> dict[str, str]:
        """The console's environment: the suite's services, topic namespace and broker, its own
        principal, the local issuer, and the htmx files fetched by scripts/console-assets.sh."""
        env = {**os.environ, **principals.service_env("console"), "CONSOLE_OIDC_ISSUER": identity.issuer_url()}
        for name, base in SERVICES.items():
            env[f"CONSOLE_{name.upper()}_URL"] = f"http://127.0.0.1:{base + self.port_offset}"
        namespace = self.env.get("CUSTOMER_TOPIC_NAMESPACE")
        if namespace:
            env["CONSOLE_TOPIC_NAMESPACE"] = namespace
        if "CUSTOMER_KAFKA_BOOTSTRAP_SERVERS" in self.env:
            env["CONSOLE_KAFKA_BOOTSTRAP_SERVERS"] = self.env["CUSTOMER_KAFKA_BOOTSTRAP_SERVERS"]
        if "INTAKE_REDIS_URL" in self.env:
            env["CONSOLE_REDIS_URL"] = self.env["INTAKE_REDIS_URL"]
        env["CONSOLE_ASSETS_DIR"] = console_assets()
        env["CONSOLE_HTTP_PORT"] = str(port)
        env["CONSOLE_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        env["CONSOLE_METRICS_PORT"] = "0"
        return env

    def start_console(self, port: int = CONSOLE_PORT) -> ServiceProcess:
        """The web console on `port` (one the identity provider redirects to: 8000, or 8090 for tests)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        proc = ServiceProcess("console", port, self.console_env(port), self.log_dir / "console.log", module="crm_console")
        proc.start()
        self.processes.append(proc)
        return proc

    def start_all(self) -> dict[str, ServiceProcess]:
        started = {name: self.start(name) for name in SERVICES}
        for proc in started.values():
            proc.wait_ready()
        return started

    def wait_all_ready(self, timeout: float = 60) -> None:
        """Every started process answers `/readyz` (e.g. after a dependency came back)."""
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            proc.wait_ready(max(1.0, deadline - time.monotonic()))

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.process and proc.process.poll() is None:
                proc.process.terminate()
        for proc in self.processes:
            proc.stop()
        self.processes.clear()


def console_assets() -> str:
    """The folder holding htmx and its SSE extension (scripts/console-assets.sh fetches them once)."""
    script = REPO / "scripts" / "console-assets.sh"
    done = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def _pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def up(run_dir: Path) -> None:
    from crm_devtools.seed import seed

    down(run_dir, quiet=True)
    print("starting Keycloak (the identity provider) if needed ...", flush=True)
    identity.start_keycloak()
    suite = Suite(log_dir=run_dir)
    print("migrating databases and creating topics ...", flush=True)
    suite.migrate()
    started = suite.start_all()
    for name, proc in started.items():
        assert proc.process is not None
        _pid_file(run_dir, name).write_text(str(proc.process.pid))
    seed({name: proc.url for name, proc in started.items()}, env=suite.service_env("customer", 0))
    console = suite.start_console()
    console.wait_ready()
    assert console.process is not None
    _pid_file(run_dir, "console").write_text(str(console.process.pid))
    print(f"\nCRM core is up (logs in {run_dir}):")
    print(f"  {'console':15} {console.url}   (the web console: sign in with a demo user below)")
    for name, proc in started.items():
        print(f"  {name + '-svc':15} {proc.url}   (OpenAPI: {proc.url}/docs)")
    print()
    print("\n".join(identity.describe()))
    customer, intake = started["customer"].url, started["intake"].url
    lead = '{"first_name":"Dana","last_name":"Levi","phones":["050-1234567"],"emails":["dana@example.com"]}'
    print("\nTry (a lead needs only its channel key; everything else the token):")
    print(f"  curl -s -X POST {intake}/v1/leads -H 'X-Channel-Key: dev-api-key' \\")
    print(f"    -H 'Content-Type: application/json' -d '{lead}'")
    print(f'  curl -s {customer}/v1/me -H "Authorization: Bearer $TOKEN"')
    print(f'  curl -s {customer}/v1/customers -H "Authorization: Bearer $TOKEN"')
    if not identity.issuer_ready():
        print(f"  (not answering at {identity.issuer_url()}: scripts/infra.sh start keycloak)")


def down(run_dir: Path, quiet: bool = False) -> None:
    for name in ["console", *SERVICES]:
        pid_file = _pid_file(run_dir, name)
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(300):
                os.killpg(pid, 0)
                time.sleep(0.1)
        except ProcessLookupError:
            pass
        pid_file.unlink()
        if not quiet:
            print(f"stopped {name if name == 'console' else name + '-svc'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="crm-suite")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--run-dir", default=str(REPO / ".local" / "run"))
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    up(run_dir) if args.command == "up" else down(run_dir)
