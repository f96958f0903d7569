from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class CustomerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CUSTOMER_", extra="ignore")

    service_name: str = "customer-svc"
    http_port: int = 8003
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/customer"
