#!/usr/bin/env python3
"""Calls a running Firebreak with a generic gRPC client that knows only the .proto files.

Usage: scripts/grpc-client-check.py HOST:PORT INGEST_TOKEN
Needs: pip install grpcio grpcio-tools grpcio-reflection grpcio-health-checking
"""
import pathlib
import sys
import tempfile

import grpc
from grpc_tools import protoc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

target, token = sys.argv[1], sys.argv[2]
root = pathlib.Path(__file__).resolve().parent.parent / "proto"
out = pathlib.Path(tempfile.mkdtemp())
protos = [str(p.relative_to(root)) for p in (root / "firebreak" / "v1").glob("*.proto")]
include = pathlib.Path(protoc.__file__).parent / "_proto"
if protoc.main(["protoc", f"-I{root}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *protos]) != 0:
    sys.exit("protoc failed")
sys.path.insert(0, str(out))
from firebreak.v1 import ingest_pb2, ingest_pb2_grpc, message_pb2  # noqa: E402

channel = grpc.insecure_channel(target)
health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
print("health:", health_pb2.HealthCheckResponse.ServingStatus.Name(health.status))

reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
answer = next(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
print("services:", sorted(s.name for s in answer.list_services_response.service))

message = message_pb2.SubmitMessage(
    channel=message_pb2.CHANNEL_TELEGRAM,
    external_id="python-1",
    thread_id="chat-python",
    visibility=message_pb2.VISIBILITY_PRIVATE,
    author=message_pb2.Author(id="py-user", handle="py"),
    text="When will I get my refund?",
)
reply = ingest_pb2_grpc.IngestStub(channel).Submit(
    ingest_pb2.SubmitRequest(message=message), metadata=[("authorization", f"Bearer {token}")]
)
print("submitted:", reply.id, "duplicate:", reply.duplicate)
