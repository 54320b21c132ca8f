"""The booking logic, free of gRPC: create (validate, plan, hold), confirm (pay, ticket),
get, list (page tokens), cancel (refund), orders at upstream providers, and the hold
sweeper."""
