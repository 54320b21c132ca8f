"""Search service: flight search over the platform's inventory and the upstream provider."""
