"""The images, read instruction by instruction (no Docker engine here to build them)."""

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crm_console import bootstrap as console_bootstrap
from crm_devtools.deploy import settings_env
from crm_devtools.deploy.plan import APP_UID, SERVICES, Service, service, with_role

from .conftest import REPO

pytestmark = pytest.mark.deploy
BUILD_TOOLS = re.compile(r"\b(apt-get|apk|gcc|g\+\+|make|build-essential|pip install)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages(path: Path) -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            out.append(Stage(base.strip(), name.strip() or None))
        elif out:
            out[-1].instructions.append((keyword, args.strip()))
    return out


def _ignored(path: str) -> bool:
    """.dockerignore semantics for the patterns we use: later lines win, `!` re-includes."""
    ignored = False
    for pattern in (REPO / ".dockerignore").read_text().splitlines():
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [path, *(str(Path(*Path(path).parts[:i])) for i in range(1, len(Path(path).parts)))]
        if any(
            fnmatch.fnmatch(c, pattern)
            or fnmatch.fnmatch(c, pattern.removeprefix("**/"))
            or fnmatch.fnmatch(c, pattern.replace("**/", "*/"))
            for c in candidates
        ):
            ignored = not negate
    return ignored


def test_every_service_has_an_image() -> None:
    assert all((REPO / "services" / svc.name / "Dockerfile").is_file() for svc in SERVICES)
    assert {svc.name for svc in SERVICES} == {*(s.name for s in with_role("migrate")), "console"}


@pytest.mark.parametrize("svc", with_role("migrate"), ids=lambda s: s.name)
def test_service_image(svc: Service) -> None:
    build, final = stages(REPO / "services" / svc.name / "Dockerfile")
    # Multi-stage: the final stage only copies the built virtualenv, and builds nothing.
    assert build.name == "build" and final.base == build.base
    assert "--from=build /opt/venv /opt/venv" in final.all("COPY")
    assert not [run for run in final.all("RUN") if BUILD_TOOLS.search(run)]
    assert final.all("USER") == [f"{APP_UID}:{APP_UID}"] and APP_UID != 0
    # Every source copied in exists and is not excluded by .dockerignore.
    for args in build.all("COPY") + [a for a in final.all("COPY") if not a.startswith("--from")]:
        source = args.split()[0]
        assert (REPO / source).exists(), source
        assert not _ignored(source), source
    # The entrypoint is the service's own console script; `migrate` is the other command.
    scripts = tomllib.loads((REPO / "services" / svc.name / "pyproject.toml").read_text())["project"]["scripts"]
    assert final.all("ENTRYPOINT") == [f'["{svc.name}"]'] and svc.name in scripts
    assert final.all("CMD") == ['["serve"]']
    # alembic.ini and migrations/ sit in the working directory, where `migrate` looks.
    assert final.all("WORKDIR") == ["/app"]
    assert f"services/{svc.name}/alembic.ini ./" in final.all("COPY")
    assert f"services/{svc.name}/migrations ./migrations" in final.all("COPY")
    # Listens on all interfaces, on its port, and reports readiness.
    assert final.all("EXPOSE") == [str(svc.port)]
    env = " ".join(final.all("ENV"))
    assert f"{svc.prefix.upper()}HTTP_HOST=0.0.0.0" in env and f"{svc.prefix.upper()}HTTP_PORT={svc.port}" in env
    assert f"http://127.0.0.1:{svc.port}/readyz" in final.all("HEALTHCHECK")[0]


def test_tests_and_local_state_stay_out_of_the_build_context() -> None:
    assert _ignored("services/intake-svc/tests/unit/test_x.py")
    assert _ignored(".venv/bin/python") and _ignored(".git/HEAD") and _ignored("bench/RESULTS.md")
    assert not _ignored("services/intake-svc/src/intake_svc/config.py")
    assert not _ignored("constraints.txt")


def test_seed_image() -> None:
    build, final = stages(REPO / "libs" / "devtools" / "Dockerfile")
    assert final.all("USER") == [f"{APP_UID}:{APP_UID}"]
    scripts = tomllib.loads((REPO / "libs" / "devtools" / "pyproject.toml").read_text())["project"]["scripts"]
    assert final.all("CMD") == ['["crm-seed"]'] and "crm-seed" in scripts


# --- issue 18: the console's image -----------------------------------------------------------------


def _pins(text: str) -> dict[str, str]:
    """package -> version of every `name@version` in a text (an npm install line)."""
    return dict(re.findall(r"\b(htmx\.org|htmx-ext-sse|axe-core)@([0-9][\w.-]*)", text))


def test_console_image_fetches_htmx_at_build_time_and_keeps_only_the_two_files() -> None:
    console = service("console")
    build, assets, final = stages(REPO / "services" / "console" / "Dockerfile")
    assert (build.name, assets.name, final.name) == ("build", "assets", None) and final.base == build.base
    assert assets.base == "${NODE_IMAGE}"
    # The same pinned npm install as scripts/console-assets.sh (minus the tests' axe-core), at the
    # versions the console's code says it is written for.
    (install,) = [run for run in assets.all("RUN") if "npm install" in run]
    script = (REPO / "scripts" / "console-assets.sh").read_text()
    script_pins = dict(re.findall(r"^(HTMX_VERSION|HTMX_SSE_VERSION)=(\S+)", script, flags=re.M))
    assert (
        _pins(install)
        == {
            "htmx.org": script_pins["HTMX_VERSION"],
            "htmx-ext-sse": script_pins["HTMX_SSE_VERSION"],
        }
        == {"htmx.org": console_bootstrap.HTMX_VERSION, "htmx-ext-sse": console_bootstrap.HTMX_SSE_VERSION}
    )
    for flag in ("--ignore-scripts", "--no-save", "--no-package-lock"):
        assert flag in install and flag in script
    # The final stage: the virtualenv, htmx.min.js and sse.js from the assets stage, nothing else;
    # no build tools, no Node, no alembic (nothing to migrate).
    assert "--from=build /opt/venv /opt/venv" in final.all("COPY")
    (copied,) = [c for c in final.all("COPY") if c.startswith("--from=assets")]
    *sources, target = copied.split()[1:]
    assert sorted(source.rsplit("/", 1)[1] for source in sources) == ["htmx.min.js", "sse.js"]
    assert not [run for run in final.all("RUN") if BUILD_TOOLS.search(run) or "npm" in run]
    assert not [c for c in final.all("COPY") if "alembic" in c or "migrations" in c]
    env = " ".join(final.all("ENV"))
    assets_dir = re.search(r"CONSOLE_ASSETS_DIR=(\S+)", env).group(1)  # type: ignore[union-attr]
    assert target.rstrip("/") == assets_dir
    # The cluster's and compose's settings (config.env) point at the same folder, or the ConfigMap
    # would override the image's variable with the development default.
    values, _ = settings_env.parse((REPO / "deploy" / "k8s" / "base" / "console" / "config.env").read_text())
    assert values[console.env("assets_dir")] == assets_dir
    # Listens on all interfaces on 8000, reports readiness (sessions store + live feed), runs as a plain user.
    assert final.all("USER") == [f"{APP_UID}:{APP_UID}"]
    assert final.all("EXPOSE") == [str(console.port)] and console.port == 8000
    assert "CONSOLE_HTTP_HOST=0.0.0.0" in env and f"CONSOLE_HTTP_PORT={console.port}" in env
    assert f"http://127.0.0.1:{console.port}/readyz" in final.all("HEALTHCHECK")[0]
    scripts = tomllib.loads((REPO / "services" / "console" / "pyproject.toml").read_text())["project"]["scripts"]
    assert final.all("ENTRYPOINT") == ['["console"]'] and "console" in scripts
    assert final.all("CMD") == ['["serve"]']
    for args in build.all("COPY"):
        source = args.split()[0]
        assert (REPO / source).exists() and not _ignored(source), source
    # Its templates and static files ship in the package (package data), not beside it.
    package_data = tomllib.loads((REPO / "services" / "console" / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert {"templates/**/*.html", "static/*"} <= set(package_data["crm_console"])
    assert not _ignored("services/console/src/crm_console/templates/base.html")
