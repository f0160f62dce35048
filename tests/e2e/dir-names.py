# Every name that appears in DIR (created or moved in), a line each,
# until killed: what a daemon reading the directory (dnsmasq's --hostsdir)
# could see at any moment.  Creates the file READY once it watches.
import ctypes, os, struct, sys
d, ready = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
IN_CREATE, IN_MOVED_TO = 0x100, 0x80
fd = libc.inotify_init1(os.O_CLOEXEC)
if fd < 0 or libc.inotify_add_watch(fd, d.encode(), IN_CREATE | IN_MOVED_TO) < 0:
    sys.exit("inotify on %s: %s" % (d, os.strerror(ctypes.get_errno())))
open(ready, "w").close()
while True:
    buf = os.read(fd, 65536)
    i = 0
    while i < len(buf):
        _, _, _, n = struct.unpack_from("iIII", buf, i)
        print(buf[i + 16:i + 16 + n].rstrip(b"\0").decode(), flush=True)
        i += 16 + n
