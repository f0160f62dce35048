# A unix socket server for the tests: answers "pong: " and what it read.
import socket, sys, os
p = sys.argv[1]
s = socket.socket(socket.AF_UNIX); s.bind(p); s.listen(8)
open(p + ".ready", "w").close()
while True:
    c, _ = s.accept()
    data = b""
    while True:
        d = c.recv(4096)
        if not d: break
        data += d
    c.sendall(b"pong: " + data); c.close()
