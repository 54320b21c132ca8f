"""The gRPC face of the booking service: the servicer, protobuf <-> domain conversion,
and end-user JWT verification."""
