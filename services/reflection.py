"""gRPC server reflection that carries the protos' comments.

The generated ``*_pb2`` modules embed their files without ``source_code_info`` (the
comments), so grpcio-reflection's servicer, which serialises the descriptors the
process has loaded, answers without them and ``grpcurl describe`` shows bare
definitions. ``make proto`` (scripts/gen_protos.py) also writes our protos as a
descriptor set with source info into services/generated; reflection answers with
those files instead, and with the loaded ones for everything else (google/protobuf/*,
health, reflection itself). It also finds the file of a method by the method's name,
which grpcio-reflection does not (the upb pool has no such symbol lookup), so
``grpcurl describe pkg.Service.Method`` works.

A file of the set is used only if, without its comments and JSON names, it is exactly
the file the process has loaded: a stale set (protos edited without ``make proto``,
which ``make check-proto`` also catches) never describes a schema other than the one
being served.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

import services.generated

log = logging.getLogger("skyroute.reflection")

DESCRIPTOR_SET = Path(services.generated.__file__).parent / "descriptors_with_source_info.binpb"
SERVICE_NAME: str = reflection.SERVICE_NAME


def _without_extras(proto: descriptor_pb2.FileDescriptorProto) -> bytes:
    """The file as the loaded descriptors serialise it: no source info, no json_name."""
    out = descriptor_pb2.FileDescriptorProto()
    out.CopyFrom(proto)
    out.ClearField("source_code_info")
    messages = list(out.message_type)
    while messages:
        message = messages.pop()
        messages.extend(message.nested_type)
        for field in [*message.field, *message.extension]:
            field.ClearField("json_name")
    for extension in out.extension:
        extension.ClearField("json_name")
    data: bytes = out.SerializeToString(deterministic=True)
    return data


def load_files_with_source_info(path: Path = DESCRIPTOR_SET, pool: Any = None) -> dict[str, bytes]:
    """File name -> serialised FileDescriptorProto with comments, for every file of the
    set that matches the loaded one (files not loaded at all are left out)."""
    pool = descriptor_pool.Default() if pool is None else pool
    try:
        data = path.read_bytes()
    except OSError as exc:
        log.warning(
            "reflection without proto comments: no descriptor set (run make proto)",
            extra={"path": str(path), "error": type(exc).__name__},
        )
        return {}
    out: dict[str, bytes] = {}
    for proto in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        try:
            loaded = pool.FindFileByName(proto.name)
        except KeyError:
            continue
        current = descriptor_pb2.FileDescriptorProto()
        loaded.CopyToProto(current)
        if _without_extras(proto) != _without_extras(current):
            log.warning(
                "reflection without comments for a file: the descriptor set is stale "
                "(run make proto)",
                extra={"file": proto.name},
            )
            continue
        out[proto.name] = proto.SerializeToString()
    return out


@functools.cache
def _default_files() -> Mapping[str, bytes]:
    return load_files_with_source_info()


class SourceInfoReflectionServicer(reflection.aio.ReflectionServicer):
    """grpcio-reflection's servicer, answering with ``files`` where it has them."""

    def __init__(self, service_names: Iterable[str], files: Mapping[str, bytes]) -> None:
        super().__init__(list(service_names))
        self._files = files

    def _with_source_info(self, response: Any) -> Any:
        if response.HasField("file_descriptor_response"):
            protos = response.file_descriptor_response.file_descriptor_proto
            for i, raw in enumerate(protos):
                name = descriptor_pb2.FileDescriptorProto.FromString(raw).name
                if name in self._files:
                    protos[i] = self._files[name]
        return response

    def _file_by_filename(self, request: Any, filename: str) -> Any:
        return self._with_source_info(super()._file_by_filename(request, filename))

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        response = super()._file_containing_symbol(request, fully_qualified_name)
        if response.HasField("error_response"):
            # The upb pool does not find methods by symbol (grpcurl describe
            # pkg.Service.Method asks for one): the method's file is its service's.
            try:
                method = self._pool.FindMethodByName(fully_qualified_name)
            except KeyError:
                return response
            response = super()._file_by_filename(request, method.containing_service.file.name)
        return self._with_source_info(response)

    def _file_containing_extension(
        self, request: Any, containing_type: str, extension_number: int
    ) -> Any:
        return self._with_source_info(
            super()._file_containing_extension(request, containing_type, extension_number)
        )


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection (v1alpha, what grpcurl asks for) for ``service_names`` and the
    reflection service itself, with the protos' comments."""
    names = [*service_names, SERVICE_NAME]
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        SourceInfoReflectionServicer(names, _default_files()), server
    )
