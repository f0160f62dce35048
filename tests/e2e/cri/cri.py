#!/usr/bin/python3
"""A CRI client of the test's own: one call, as kubelet makes it.

usage: cri.py SOCKET METHOD [REQUEST-JSON]
Prints the reply as JSON (proto field names; ExecSync's stdout and stderr
as text).  A gRPC error is printed on stderr with its code, exit status 1.
The message classes come from cri.proto, compiled by protoc into
$CRI_PB_DIR (the test's own directory)."""
import json
import os
import sys

sys.path.insert(0, os.environ["CRI_PB_DIR"])

import grpc  # noqa: E402  (python3-grpcio)
from google.protobuf import json_format  # noqa: E402
import cri_pb2  # noqa: E402

IMAGE_METHODS = {"ListImages", "ImageStatus"}


def main():
    sock, method = sys.argv[1], sys.argv[2]
    body = sys.argv[3] if len(sys.argv) > 3 else "{}"
    req_cls = getattr(cri_pb2, method + "Request")
    resp_cls = getattr(cri_pb2, method + "Response")
    service = "ImageService" if method in IMAGE_METHODS else "RuntimeService"
    req = json_format.Parse(body, req_cls())
    with grpc.insecure_channel("unix://" + sock) as ch:
        call = ch.unary_unary("/runtime.v1.%s/%s" % (service, method),
                              request_serializer=req_cls.SerializeToString,
                              response_deserializer=resp_cls.FromString)
        try:
            resp = call(req, timeout=float(os.environ.get("CRI_TIMEOUT", "240")))
        except grpc.RpcError as e:
            print("%s: %s: %s" % (method, e.code().name, e.details()), file=sys.stderr)
            return 1
    # Defaults too: proto3 leaves out a zero enum (SANDBOX_READY, CONTAINER_CREATED).
    out = json_format.MessageToDict(resp, preserving_proto_field_name=True,
                                    including_default_value_fields=True)
    if method == "ExecSync":
        out["stdout"] = resp.stdout.decode(errors="replace")
        out["stderr"] = resp.stderr.decode(errors="replace")
        out["exit_code"] = resp.exit_code
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
