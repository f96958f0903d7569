"""The Dockerfiles: one per service (and one for the dev tools that seed the demo workspace)."""

import shlex

from crm_devtools.deploy.plan import APP_UID, CONSOLE_ASSETS_DIR, CONSOLE_NPM_PACKAGES, NODE_IMAGE, PYTHON_IMAGE, Service

# The stages every image shares: a build stage with a virtualenv, and a final one with a plain user.
_BUILD_STAGE = """\
ARG PYTHON_IMAGE={python}

FROM ${{PYTHON_IMAGE}} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY constraints.txt ./"""

_FINAL_STAGE = """\
FROM ${{PYTHON_IMAGE}}
RUN groupadd --system --gid {uid} crm \\
 && useradd --system --uid {uid} --gid crm --no-create-home --home-dir /app --shell /usr/sbin/nologin crm
COPY --from=build /opt/venv /opt/venv"""

_SERVICE = """\
# syntax=docker/dockerfile:1
# {name}: written by `crm-deploy-files` (libs/devtools/src/crm_devtools/deploy/images.py).
# Build from the repository root:   docker build -f services/{name}/Dockerfile -t crm/{name} .
# Run the service:                  docker run crm/{name}            (= `{name} serve`)
# Migrate (schema, then topics):    docker run crm/{name} migrate     (a one-shot job, before the service)

{build}
COPY libs/contracts libs/contracts
COPY libs/runtime libs/runtime
COPY services/{name} services/{name}
# Wheels only: the final stage has no compiler, so nothing may need one.
RUN /opt/venv/bin/pip install --only-binary=:all: --no-binary=crm-contracts,crm-runtime,{name} \\
      -c constraints.txt ./libs/contracts ./libs/runtime ./services/{name}

{final}
WORKDIR /app
# `migrate` finds alembic.ini and migrations/ in the working directory.
COPY services/{name}/alembic.ini ./
COPY services/{name}/migrations ./migrations
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \\
    {prefix}HTTP_HOST=0.0.0.0 {prefix}HTTP_PORT={port}
USER {uid}:{uid}
EXPOSE {port}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/readyz', timeout=2)"]
ENTRYPOINT ["{name}"]
CMD ["serve"]
"""

# A web front end without a database (the console): no alembic.ini, no migrations/, and its
# third-party browser code fetched from the npm registry in a stage of its own (never committed,
# never loaded from a CDN); only the two files it serves reach the final image.
_WEB = """\
# syntax=docker/dockerfile:1
# {name}: written by `crm-deploy-files` (libs/devtools/src/crm_devtools/deploy/images.py).
# Build from the repository root:   docker build -f services/{name}/Dockerfile -t crm/{name} .
# Run it:                           docker run crm/{name}            (= `{name} serve`; no database, nothing to migrate)

ARG NODE_IMAGE={node}
{build}
COPY libs/contracts libs/contracts
COPY libs/runtime libs/runtime
COPY services/{name} services/{name}
# Wheels only: the final stage has no compiler, so nothing may need one.
RUN /opt/venv/bin/pip install --only-binary=:all: --no-binary=crm-contracts,crm-runtime,{name} \\
      -c constraints.txt ./libs/contracts ./libs/runtime ./services/{name}

# htmx 2 and its SSE extension, at the versions scripts/console-assets.sh pins (the same npm install).
FROM ${{NODE_IMAGE}} AS assets
WORKDIR /assets
RUN npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error \\
      --prefix /assets/npm {packages} \\
 && mkdir out \\
 && cp npm/node_modules/htmx.org/dist/htmx.min.js out/htmx.min.js \\
 && {{ cp npm/node_modules/htmx-ext-sse/dist/sse.min.js out/sse.js || cp npm/node_modules/htmx-ext-sse/dist/sse.js out/sse.js; }}

{final}
WORKDIR /app
COPY --from=assets /assets/out/htmx.min.js /assets/out/sse.js {assets}/
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \\
    {prefix}HTTP_HOST=0.0.0.0 {prefix}HTTP_PORT={port} {prefix}ASSETS_DIR={assets}
USER {uid}:{uid}
EXPOSE {port}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/readyz', timeout=2)"]
ENTRYPOINT ["{name}"]
CMD ["serve"]
"""

_DEVTOOLS = """\
# syntax=docker/dockerfile:1
# crm-devtools: seeds the demo workspace through the services' APIs (`crm-seed`).
# Written by `crm-deploy-files` (libs/devtools/src/crm_devtools/deploy/images.py).
# Build from the repository root:   docker build -f libs/devtools/Dockerfile -t crm/devtools .

{build}
COPY libs/devtools libs/devtools
RUN /opt/venv/bin/pip install --only-binary=:all: --no-binary=crm-devtools -c constraints.txt ./libs/devtools

{final}
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER {uid}:{uid}
CMD ["crm-seed"]
"""

DOCKERIGNORE = """\
# Images are built from the repository root; only constraints.txt, libs/ and services/ go in.
*
!constraints.txt
!libs/
!services/
**/tests/
**/__pycache__/
**/*.egg-info/
**/build/
**/Dockerfile
"""


def _stages() -> dict[str, str]:
    return {"build": _BUILD_STAGE.format(python=PYTHON_IMAGE), "final": _FINAL_STAGE.format(uid=APP_UID)}


def service_dockerfile(svc: Service) -> str:
    if not svc.owns_database:
        return _WEB.format(
            name=svc.name,
            uid=APP_UID,
            prefix=svc.prefix.upper(),
            port=svc.port,
            node=NODE_IMAGE,
            packages=shlex.join(CONSOLE_NPM_PACKAGES),
            assets=CONSOLE_ASSETS_DIR,
            **_stages(),
        )
    return _SERVICE.format(name=svc.name, uid=APP_UID, prefix=svc.prefix.upper(), port=svc.port, **_stages())


def devtools_dockerfile() -> str:
    return _DEVTOOLS.format(uid=APP_UID, **_stages())
