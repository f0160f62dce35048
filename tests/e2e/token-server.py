#!/usr/bin/env python3
"""A registry token server for the tests (the WWW-Authenticate Bearer flow).

usage: token-server.py PORT KEY.pem CERT.pem USER PASSWORD

GET /token?service=S&scope=repository:NAME:ACTIONS with basic auth USER:PASSWORD
returns {"token": JWT} granting the asked actions; anonymous requests get a
token for pull only.  JWTs are RS256, signed with `openssl dgst`, and carry
the certificate in x5c so the registry can check them against its bundle."""
import base64
import http.server
import json
import subprocess
import sys
import time
import urllib.parse

port, key, cert, user, password = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    return signing_input + "." + b64(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path != "/token":
            self.send_error(404)
            return
        authed = False
        h = self.headers.get("Authorization", "")
        if h.startswith("Basic "):
            u_p = base64.b64decode(h[6:]).decode()
            if u_p != user + ":" + password:
                self.send_error(401)
                return
            authed = True
        access = []
        for scope in q.get("scope", []):
            kind, name, actions = scope.split(":")
            wanted = actions.split(",")
            granted = [a for a in wanted if authed or a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        token = sign({"iss": "berth-test-issuer", "sub": user if authed else "", "aud": q.get("service", [""])[0],
                      "exp": now + 300, "nbf": now - 10, "iat": now, "jti": str(now), "access": access})
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
