"""Token service: one upstream OAuth2 token per provider, shared by all replicas."""
