"""Session-wide test setup for the whole repository.

The local broker is closed (scripts/infra.sh: SASL/SCRAM, ACLs per service). Services built
in the test process use topics under a namespace of their test, which no service's ACL
covers: their settings connect as the super user `crm-admin` instead
(`<PREFIX>KAFKA_SASL_USERNAME` / `_PASSWORD` for each service's prefix, unless already set).
Services the e2e harness spawns are given their own principals explicitly
(`crm_devtools.principals.service_env`), which overrides these.
"""

import os

import pytest

from crm_devtools.principals import admin_env


def pytest_configure(config: pytest.Config) -> None:
    for name, value in admin_env().items():
        os.environ.setdefault(name, value)
