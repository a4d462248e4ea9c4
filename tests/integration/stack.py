"""The docker-compose topology started natively: PostgreSQL + scheduler + dag-processor + triggerer + api-server.

Why this exists: the machines this project is tested on have no Docker engine, yet the deployment must be proven
on a real metadata database with the real Airflow processes talking through the api-server, as in compose.
Everything lives in one temporary directory; ``NativeStack.stop()`` ends every process group it started and
stops PostgreSQL, whatever state the run is in.

Run it by hand to poke at the UI (Ctrl-C stops everything)::

    .venv/bin/python -m tests.integration.stack --data-root /tmp/biomass-data
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("BIOMASS_PG_BIN", "/usr/lib/postgresql/15/bin"))
VENV_BIN = Path(sys.executable).parent
ADMIN = "admin"
# The processes compose runs as services; PostgreSQL (and Redis for Celery) are started first, and a Celery
# worker joins them under CeleryExecutor. Under LocalExecutor tasks run as children of the scheduler.
AIRFLOW_SERVICES = ("scheduler", "dag-processor", "triggerer", "api-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return f"<{path} missing>"


def _let_others_through(path: Path) -> None:
    """mkdtemp makes 0700 dirs: let the database user traverse (not list) our temp dirs down to its folder."""
    tmp = Path(tempfile.gettempdir()).resolve()
    for folder in [path.resolve(), *path.resolve().parents]:
        if folder == tmp or tmp not in folder.parents:
            break
        os.chmod(folder, folder.stat().st_mode | 0o011)


class StackError(RuntimeError):
    """A component did not start or died; the message carries the tail of its log."""


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port, owned by a non-root user when we are root."""

    root: Path
    port: int = field(default_factory=free_port)
    user: str = "airflow"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    database: str = "airflow"

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def os_user(self) -> str | None:
        """initdb refuses to run as root: drop to `postgres` (or `nobody`) when we are root."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        raise StackError("running as root and neither a `postgres` nor a `nobody` user exists for initdb")

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        cmd = list(argv)
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                             f"{_tail(self.log)}")
        return proc

    def start(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise StackError(f"no PostgreSQL server binaries in {PG_BIN} (apt-get install postgresql-15, "
                             "or set BIOMASS_PG_BIN)")
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.os_user:
            entry = pwd.getpwnam(self.os_user)
            _let_others_through(self.root.parent)
            for path in (self.root, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.pgdata), "-U", self.user, "--pwfile", str(pwfile),
                  "--auth=scram-sha-256", "-E", "UTF8", "--no-locale")
        pwfile.unlink()
        # Throwaway cluster: no fsync; sockets in our own dir so /var/run/postgresql need not exist.
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                                dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.database}"')
        conn.close()

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop")
            except StackError as exc:
                print(f"pg_ctl stop failed: {exc}", file=sys.stderr)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"


@dataclass
class Redis:
    """A throwaway Redis broker on a free loopback port, password-protected like compose's, persisting nothing."""

    root: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.root / "redis.log"

    def start(self, timeout: float = 30.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("CeleryExecutor needs redis-server (apt-get install redis-server)")
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "redis.conf"  # the password goes in a file, not on a command line others can read
        conf.write_text(f"port {self.port}\nbind 127.0.0.1\nrequirepass {self.password}\ndir {self.root}\n"
                        f"save \"\"\nappendonly no\nlogfile {self.log}\n")
        conf.chmod(0o600)
        self.proc = subprocess.Popen([binary, str(conf)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"redis-server exited with {self.proc.returncode}:\n{_tail(self.log)}")
            try:
                import redis

                if redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=2).ping():
                    return
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                pass
            time.sleep(0.3)
        raise StackError(f"redis-server did not answer within {timeout:.0f}s:\n{_tail(self.log)}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(timeout=5)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"


def default_executor() -> str:
    """CeleryExecutor (compose's) when a redis-server is installed, else LocalExecutor; BIOMASS_IT_EXECUTOR decides."""
    chosen = os.environ.get("BIOMASS_IT_EXECUTOR", "").lower()
    if chosen in ("local", "localexecutor"):
        return "LocalExecutor"
    if chosen in ("celery", "celeryexecutor") or (not chosen and shutil.which("redis-server")):
        return "CeleryExecutor"
    return "LocalExecutor"


@dataclass
class NativeStack:
    """Airflow's services as local processes sharing one environment, like the compose file's x-airflow-common."""

    root: Path
    data_root: Path
    api_port: int = field(default_factory=free_port)
    executor: str = field(default_factory=default_executor)
    # Off for tests: unpausing a DAG whose start_date is past makes the scheduler run the latest cron point
    # (1 January of this year) at once, next to the backfill. Backfills and manual runs are unaffected.
    scheduled_runs: bool = False
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    # More SimpleAuthManager users than the admin, name -> role (viewer | user | op | admin), each with a fresh
    # password (``passwords``): e.g. a reviewer the config names in review.assigned_users.
    users: dict[str, str] = field(default_factory=dict)
    # The biomass config every process reads (BIOMASS_CONFIG); None: the bundled one.
    config: Path | None = None
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.passwords = {ADMIN: self.admin_password,
                          **{name: secrets.token_urlsafe(16) for name in self.users if name != ADMIN}}
        self.postgres = Postgres(self.root / "postgres")
        self.redis = Redis(self.root / "redis") if self.executor == "CeleryExecutor" else None
        self.home = self.root / "airflow-home"
        self.logs = self.root / "logs"

    @property
    def services(self) -> tuple[str, ...]:
        return AIRFLOW_SERVICES + (("celery worker",) if self.executor == "CeleryExecutor" else ())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        """The same settings docker-compose.yaml gives every Airflow container, with fresh secrets."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BIOMASS_"))}
        env.update({
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                [f"{ADMIN}:admin", *(f"{name}:{role}" for name, role in self.users.items() if name != ADMIN)]),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "AIRFLOW__CORE__FERNET_KEY": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
            "AIRFLOW__API__SECRET_KEY": self._secret("api"),
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(self.scheduled_runs),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self._port("scheduler_health")),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            "BIOMASS_DATA_ROOT": str(self.data_root),
            "ARROW_DEFAULT_MEMORY_POOL": "jemalloc",   # as docker-compose.yaml sets it
            **({"BIOMASS_CONFIG": str(self.config)} if self.config else {}),
        })
        if self.redis is not None:
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.postgres.url.replace("+psycopg2", ""),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._port("worker_logs")),
            })
        return env

    def _port(self, name: str) -> int:
        attr = f"_port_{name}"
        if not hasattr(self, attr):
            setattr(self, attr, free_port())
        return getattr(self, attr)

    def _secret(self, name: str) -> str:
        # Fixed per stack (not per call): every process must agree on the JWT secret and the API key.
        attr = f"_secret_{name}"
        if not hasattr(self, attr):
            setattr(self, attr, secrets.token_urlsafe(32))
        return getattr(self, attr)

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        if self.redis is not None:
            self.redis.start()
        env = self.env()
        # What compose's airflow-init does: migrate, then create the admin user (SimpleAuthManager: a passwords
        # file that the api-server reads).
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps(self.passwords))
        passwords.chmod(0o600)
        migrate = subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, capture_output=True,
                                 text=True)
        (self.logs / "migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise StackError(f"airflow db migrate failed:\n{_tail(self.logs / 'migrate.log')}")
        for service in self.services:
            self._spawn(service, env)
        self.wait_healthy()

    def _spawn(self, service: str, env: dict[str, str]) -> None:
        log = open(self.logs / f"{service.replace(' ', '-')}.log", "ab")
        argv = [str(VENV_BIN / "airflow"), *service.split()]
        if service == "api-server":
            argv += ["--port", str(self.api_port), "--host", "127.0.0.1", "--workers", "1"]
        elif service == "celery worker":
            argv += ["--concurrency", "2", "--celery-hostname", f"biomass-it-{self.api_port}@%h"]
        # Own session = own process group, so stop() also reaches the task processes each service forks.
        self.procs[service] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root)
        log.close()

    def check_alive(self) -> None:
        for service, proc in self.procs.items():
            if proc.poll() is not None:
                raise StackError(f"airflow {service} exited with {proc.returncode}:\n"
                                 f"{_tail(self.logs / (service.replace(' ', '-') + '.log'))}")

    def wait_healthy(self, timeout: float = 240.0) -> dict:
        """Until /api/v2/monitor/health reports the metadatabase, scheduler, dag-processor and triggerer healthy."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as resp:
                    health = json.load(resp)
                last = health
                parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
                if all((health.get(p) or {}).get("status") == "healthy" for p in parts):
                    return health
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
                last = exc
            time.sleep(2)
        raise StackError(f"stack not healthy after {timeout:.0f}s; last answer: {last}\n"
                         + "\n".join(f"--- {s}\n{_tail(self.logs / (s.replace(' ', '-') + '.log'), 20)}"
                                     for s in self.procs))

    def token(self, user: str = ADMIN) -> str:
        """A JWT from the SimpleAuthManager's token endpoint (POST /auth/token), as any API user would get one."""
        body = json.dumps({"username": user, "password": self.passwords[user]}).encode()
        req = urllib.request.Request(f"{self.base_url}/auth/token", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)["access_token"]

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM every process group, SIGKILL what is left after ``grace`` seconds, then stop PostgreSQL."""
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)  # also reaps task children left in the group
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"process {proc.pid} did not die", file=sys.stderr)
        self.procs.clear()
        if self.redis is not None:
            self.redis.stop()
        self.postgres.stop()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory afterwards")
    parser.add_argument("--scheduled-runs", action="store_true", help="let the scheduler create cron runs")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="biomass-stack-"))
    stack = NativeStack(root=root, data_root=Path(args.data_root).resolve(), scheduled_runs=args.scheduled_runs)
    # SIGTERM (kill, timeout) takes the same way out as Ctrl-C, through stop().
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.start()
        print(f"UI and REST API: {stack.base_url}  user {ADMIN}  password {stack.admin_password}\n"
              f"logs: {stack.logs}   Ctrl-C stops everything", flush=True)
        while True:
            stack.check_alive()
            time.sleep(5)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
