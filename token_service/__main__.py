"""Entry point: ``python -m token_service`` (configuration from the environment)."""

from services.server import run_service
from token_service.app import TokenApp
from token_service.settings import TokenServiceSettings


def main() -> None:
    run_service(TokenServiceSettings.from_env, TokenApp)


if __name__ == "__main__":
    main()
