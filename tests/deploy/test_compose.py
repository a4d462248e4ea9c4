"""Static checks of the Docker deployment: the compose file, the Dockerfile, .env.example and the repo agree.

No Docker engine is needed: the files are parsed and cross-checked. What they catch is the drift that only shows
up at `docker compose up` time on someone else's machine: a mount of a folder that moved, a secret pasted inline,
a worker that cannot be scaled, a driver missing from the lock, an env var the image and compose disagree on.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"

AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker")
LONG_RUNNING = ("postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                "airflow-triggerer", "airflow-worker")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
NOT_SECRET = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"}  # a path, not a secret
REQUIRED_VAR = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*:\?[^}]*\}$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> dict:
    """FROM (with ARG defaults applied), ENV, and COPY sources of the Dockerfile."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    args, env, copies, base = {}, {}, [], None
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        op, rest = words[0].upper(), words[1:]
        if op == "ARG" and "=" in rest[0]:
            key, value = rest[0].split("=", 1)
            args[key] = value
        elif op == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest[0])
        elif op == "ENV":
            for pair in rest:
                key, value = pair.split("=", 1)
                env[key] = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], value)
        elif op == "COPY":
            copies.extend(w for w in rest[:-1] if not w.startswith("--"))
    return {"from": base, "env": env, "copies": copies}


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split("==", 1)
            pins[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return pins


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def _binds(service: dict) -> dict[str, str]:
    """Container path -> host path of the bind mounts (named volumes left out)."""
    out = {}
    for spec in service.get("volumes", []):
        spec = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", spec)  # variables at their .env.example defaults
        host, container = spec.split(":")[:2]
        if host.startswith((".", "/")):
            out[container] = host
    return out


def test_compose_declares_the_airflow_3_topology(compose, services):
    assert "x-airflow-common" in compose
    for name in LONG_RUNNING + ("airflow-init",):
        assert name in services, name
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    assert commands["airflow-worker"] == "celery worker"


def test_every_airflow_service_runs_the_project_image_with_the_common_env(compose, services):
    common = compose["x-airflow-common"]
    assert common["build"]["dockerfile"] == "Dockerfile" and DOCKERFILE.is_file()
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service["image"] == common["image"], name
        assert _env(service).items() >= _env(common).items(), f"{name} lost part of the common environment"


def test_long_running_services_have_healthchecks_and_wait_for_init(services):
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck", {})
        assert check.get("test"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
    for name in AIRFLOW_SERVICES:
        if name == "airflow-init":
            continue
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name


def test_init_migrates_and_creates_the_admin_user(services):
    init = services["airflow-init"]
    env = _env(init)
    assert env["_AIRFLOW_DB_MIGRATE"] == "true"
    script = "\n".join(init["command"])
    assert "/entrypoint airflow version" in script  # the entrypoint migrates when _AIRFLOW_DB_MIGRATE is set
    assert "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].endswith(":admin")
    # The api-server reads the passwords file init writes: same volume, same path.
    auth = {v for v in init["volumes"] if v.startswith("airflow-auth:")}
    assert auth and auth <= set(services["airflow-apiserver"]["volumes"])
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(auth.pop().split(":")[1] + "/")
    assert not any(v.startswith("airflow-auth:") for v in services["airflow-worker"]["volumes"])


def test_workers_scale(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "hostname" not in worker
    assert "inspect ping" in " ".join(worker["healthcheck"]["test"])


def test_mounts_match_the_repo_and_the_image(compose, services, dockerfile):
    binds = _binds(compose["x-airflow-common"])
    home = dockerfile["env"]["BIOMASS_HOME"]
    expected = {"/opt/airflow/dags": "./dags", "/opt/airflow/plugins": "./plugins",
                f"{home}/include": "./include", f"{home}/biomass.yaml": "./biomass.yaml",
                f"{home}/samples": "./samples"}
    for container, host in expected.items():
        assert binds.get(container) == host, (container, binds)
        assert (REPO / host).exists(), f"{host} is mounted but missing from the repo"
    # The data root: mounted where both the image and compose say it is.
    env = _env(compose["x-airflow-common"])
    assert env["BIOMASS_DATA_ROOT"] == dockerfile["env"]["BIOMASS_DATA_ROOT"]
    assert env["BIOMASS_DATA_ROOT"] in binds
    assert env["BIOMASS_CONFIG"] == dockerfile["env"]["BIOMASS_CONFIG"] == f"{home}/biomass.yaml"
    for name in AIRFLOW_SERVICES:
        assert _binds(services[name]) == binds, f"{name} mounts differ from x-airflow-common"


def test_bundled_config_inputs_resolve_inside_the_mounted_project(compose, dockerfile):
    """biomass.yaml's relative inputs resolve against its folder: each must sit in a folder mounted next to it."""
    config = yaml.safe_load((REPO / "biomass.yaml").read_text())
    home = dockerfile["env"]["BIOMASS_HOME"]
    mounted = {c[len(home) + 1:] for c in _binds(compose["x-airflow-common"]) if c.startswith(home + "/")}
    patterns = config.get("scrape", {}).get("inputs", []) + config.get("license", {}).get("inputs", [])
    for pattern in patterns:
        if "://" in pattern or pattern.startswith("/"):
            continue
        assert pattern.split("/")[0] in mounted, f"{pattern} is not under a mounted folder of {home}"


def test_image_matches_the_lock(dockerfile):
    lock = _lock()
    airflow = lock["apache-airflow"]
    assert re.fullmatch(rf"apache/airflow:{re.escape(airflow)}-python3\.11", dockerfile["from"])
    assert f"apache-airflow[postgres,celery]=={airflow}" in (REPO / "pyproject.toml").read_text()
    # The drivers compose's URLs need are pinned, not left to the base image.
    for package in ("psycopg2-binary", "asyncpg", "apache-airflow-providers-celery", "celery", "redis"):
        assert package in lock, package
    text = DOCKERFILE.read_text()
    assert "-r ${BIOMASS_HOME}/requirements.lock" in text and f'"apache-airflow=={airflow}"' in text
    assert "--no-deps -e ${BIOMASS_HOME}" in text
    assert re.search(r"^USER airflow$", text, re.M), "pip must run as the image's airflow user"
    # setup.py compiles the MinHash kernel: the image needs a compiler, and keeps a copy of the result.
    assert "ext_modules" in (REPO / "setup.py").read_text() and "gcc" in text
    assert "${BIOMASS_HOME}/kernel/" in text


def test_init_restores_the_kernel_hidden_by_the_include_mount(services):
    script = "\n".join(services["airflow-init"]["command"])
    assert "/opt/biomass/kernel/_minhash.c" in script and "/opt/biomass/kernel/_minhash*.so" in script
    assert "import biomass.dedup._minhash" in script
    assert "**/*.so" in (REPO / ".dockerignore").read_text().split()


def test_dockerfile_copies_existing_files_and_never_the_env(dockerfile):
    for source in dockerfile["copies"]:
        assert (REPO / source).exists(), f"COPY {source}: not in the repo"
    # What `pip install -e` needs to build the project, kernel included.
    for needed in ("requirements.lock", "pyproject.toml", "setup.py", "README.md", "include"):
        assert needed in dockerfile["copies"], needed
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and "data" in ignored


def test_no_secret_is_written_inline(compose):
    # Credentials inside URLs: with every ${...} reference replaced by VAR, a password must be exactly VAR.
    text = re.sub(r"\$\{[^}]*\}", "VAR", COMPOSE.read_text())
    for user, password in re.findall(r"://([^:/\s@]*):([^@\s]+)@", text):
        assert password == "VAR", f"a literal credential is written into a URL ({user}:***)"

    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}")
                if SECRET_NAME.search(str(key)) and key not in NOT_SECRET and isinstance(value, str):
                    yield f"{path}.{key}", value
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{path}[{i}]")

    secrets = dict(walk(compose))
    assert "services.postgres.environment.POSTGRES_PASSWORD" in "".join(f"services{w}" for w in secrets)
    for where, value in secrets.items():
        assert REQUIRED_VAR.match(value), f"{where} = {value!r}: secrets must be ${{VAR:?...}} from .env"


def test_env_example_holds_no_secret_and_make_env_fills_every_one():
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        import make_env
    finally:
        sys.path.pop(0)
    example = (REPO / ".env.example").read_text()
    values = dict(line.split("=", 1) for line in example.splitlines() if "=" in line and not line.startswith("#"))
    secret_keys = [k for k in values if SECRET_NAME.search(k)]
    assert secret_keys and all(values[k] == "" for k in secret_keys), "secrets in .env.example must be empty"
    first, second = (dict(line.split("=", 1) for line in make_env.render(example, make_env.generated()).splitlines()
                          if "=" in line and not line.startswith("#")) for _ in range(2))
    for key in secret_keys:
        assert first[key] and first[key] != second[key], f"{key} is not freshly generated"
    assert len(base64.urlsafe_b64decode(first["AIRFLOW__CORE__FERNET_KEY"])) == 32
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_every_variable_compose_needs_is_in_env_example():
    example = {line.split("=", 1)[0] for line in (REPO / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    optional = {"AIRFLOW_PROJ_DIR"}  # Airflow's reference variable; "." unless you move the files
    assert used - optional <= example, sorted(used - optional - example)


def test_execution_api_points_at_the_api_server(compose, services):
    url = _env(compose["x-airflow-common"])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    host, port = re.match(r"http://([^:/]+):(\d+)/execution/$", url).groups()
    assert host in services and services[host]["command"] == "api-server"
    assert any(p.endswith(f":{port}") for p in services[host]["ports"])


def test_native_stack_uses_the_same_settings_as_compose(compose, tmp_path):
    """The integration run proves this compose topology only if it configures Airflow the same way."""
    from tests.integration.stack import NativeStack

    stack = NativeStack(root=tmp_path, data_root=tmp_path / "data", executor="CeleryExecutor")
    native, common = stack.env(), _env(compose["x-airflow-common"])
    # BIOMASS_CONFIG: natively the bundled biomass.yaml is found next to include/, as in the image.
    missing = set(common) - set(native) - {"BIOMASS_CONFIG"}
    assert not missing, f"set in compose but not in the native stack: {sorted(missing)}"
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", "AIRFLOW__CORE__LOAD_EXAMPLES"):
        assert native[key].lower() == common[key].lower(), key
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CELERY__BROKER_URL"):
        assert native[key].split("://")[0] == common[key].split("://")[0], key
    assert "celery worker" in stack.services
    commands = {s.get("command") for s in compose["services"].values() if isinstance(s.get("command"), str)}
    assert commands >= set(stack.services)


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_compose_config_accepts_the_file(tmp_path):
    """Where a compose plugin exists, let compose itself validate the file (with a throwaway .env)."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker compose plugin not installed")
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        import make_env
    finally:
        sys.path.pop(0)
    env = tmp_path / ".env"
    env.write_text(make_env.render((REPO / ".env.example").read_text(), make_env.generated()))
    proc = subprocess.run(["docker", "compose", "--env-file", str(env), "-f", str(COMPOSE), "config", "-q"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_signing_key_reaches_the_workers_only(compose, services):
    key = "AIRFLOW_VAR_BIOMASS_SIGNING_PRIVATE_KEY"
    assert key in _env(services["airflow-worker"])
    assert key not in _env(compose["x-airflow-common"])
    assert key not in _env(services["airflow-apiserver"])
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        import make_env
    finally:
        sys.path.pop(0)
    assert len(base64.b64decode(make_env.generated()[key], validate=True)) == 32  # biomass's raw-seed form
