"""The images, read instruction by instruction (no Docker engine here to build them)."""

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crm_devtools.deploy.plan import APP_UID, SERVICES, Service

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


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
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
