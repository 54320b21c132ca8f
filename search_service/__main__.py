"""Entry point: ``python -m search_service`` (configuration from the environment)."""

from search_service.app import SearchApp
from search_service.settings import SearchServiceSettings
from services.server import run_service


def main() -> None:
    run_service(SearchServiceSettings.from_env, SearchApp)


if __name__ == "__main__":
    main()
