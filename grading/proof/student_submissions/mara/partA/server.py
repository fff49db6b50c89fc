'''P0 part A -- key value server

Theory of operation
  main_loop  (thread "boss")     : owns the store, the client table and the counters
  accept_loop (thread "acceptor"): accepts sockets, hands them to the boss
  per client: "recv-N" reads lines (makefile), "send-N" writes replies

The boss never blocks when it hands out a reply: it uses put_nowait on the
client's outbox. Everything else talks to the boss through self.q.
'''
import contextlib
import logging
import queue
import socket
import threading

from partA.kvstore import KVStore

MAX_OUTBOX = 500
MAX_LINE = 64 * 1024

log = logging.getLogger(__name__)

_END = object()


class Conn:
    def __init__(self, n, sock):
        self.n = n
        self.sock = sock
        self.outbox = queue.Queue()   # replies waiting for the sender thread
        self.recv_thread = None
        self.send_thread = None


class KeyValueServer:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.q = queue.Queue()
        self.done = threading.Event()
        self.lsock = None
        self.boss = None
        self.acceptor = None
        self.state = 'new'
        self.conns = {}
        self.n_dropped = 0

    def start(self, port: int, host: str = '127.0.0.1') -> int:
        if self.state != 'new': raise RuntimeError('start() twice, or after close()')
        self.lsock = socket.create_server((host, port), backlog=512)
        self.state = 'running'
        self.boss = threading.Thread(target=self.main_loop, name='boss'); self.boss.start()
        self.acceptor = threading.Thread(target=self.accept_loop, name='acceptor'); self.acceptor.start()
        return self.lsock.getsockname()[1]

    def count_active(self) -> int:
        return self._ask('active')

    def count_dropped(self) -> int:
        return self._ask('dropped')

    def _ask(self, what):
        if self.state != 'running': raise RuntimeError('server not running')
        box = queue.Queue(1)
        self.q.put(('ask', what, box))
        return box.get()

    def close(self) -> None:
        if self.state == 'closed': return
        was_running = self.state == 'running'
        self.state = 'closed'
        if not was_running: return
        self.done.set()
        with contextlib.suppress(OSError): self.lsock.shutdown(socket.SHUT_RDWR)
        self.acceptor.join()
        self.lsock.close()
        self.q.put(('quit',))
        self.boss.join()

    def accept_loop(self):
        while not self.done.is_set():
            try: s, _ = self.lsock.accept()
            except OSError: continue
            self.q.put(('new', s))

    def recv_loop(self, n, sock):
        f = sock.makefile('rb')
        try:
            while True:
                try: line = f.readline(MAX_LINE + 3)
                except OSError: break
                if not line: break   # EOF (an unfinished last line is not run)
                if not line.endswith(b'\n'):
                    if len(line) < MAX_LINE + 3: break   # EOF in the middle of a line
                    log.warning('client %d: line longer than %d bytes, skipped', n, MAX_LINE)
                    while line and not line.endswith(b'\n'):
                        try: line = f.readline(MAX_LINE)
                        except OSError: line = b''
                    continue
                self.q.put(('line', n, line.rstrip(b'\n').removesuffix(b'\r')))
        finally:
            f.close()
            self.q.put(('eof', n))

    def send_loop(self, sock, outbox):
        ok = True
        while True:
            item = outbox.get()
            if item is _END: break
            if ok:
                try: sock.sendall(item)
                except OSError: ok = False
        with contextlib.suppress(OSError): sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def main_loop(self):
        count = 0
        while True:
            msg = self.q.get()
            if msg[0] == 'quit': break
            elif msg[0] == 'new':
                count += 1
                self.add(count, msg[1])
            elif msg[0] == 'line':
                c = self.conns.get(msg[1])
                if c is not None: self.run(c, msg[2])
            elif msg[0] == 'eof':
                c = self.conns.pop(msg[1], None)
                if c is not None:
                    c.recv_thread.join()
                    c.outbox.put(_END)
                    c.send_thread.join()
                    self.n_dropped += 1
            elif msg[0] == 'ask':
                msg[2].put(len(self.conns) if msg[1] == 'active' else self.n_dropped)
        for c in self.conns.values():
            with contextlib.suppress(OSError): c.sock.shutdown(socket.SHUT_RDWR)
        for c in self.conns.values():
            c.recv_thread.join()
            c.outbox.put(_END)
            c.send_thread.join()
        self.conns.clear()

    def add(self, n, sock):
        c = Conn(n, sock)
        c.recv_thread = threading.Thread(target=self.recv_loop, args=(n, sock), name=f'recv-{n}')
        c.send_thread = threading.Thread(target=self.send_loop, args=(sock, c.outbox), name=f'send-{n}')
        try:
            c.recv_thread.start()
        except RuntimeError:
            log.warning('client %d: could not start a thread, disconnected', n)
            sock.close(); self.n_dropped += 1; return
        try:
            c.send_thread.start()
        except RuntimeError:
            log.warning('client %d: could not start a thread, disconnected', n)
            with contextlib.suppress(OSError): sock.shutdown(socket.SHUT_RDWR)
            c.recv_thread.join(); sock.close(); self.n_dropped += 1; return
        self.conns[n] = c

    def run(self, c, line):
        parts = line.split(b':')
        op = parts[0]
        try: key = parts[1].decode('utf-8') if len(parts) > 1 else ''
        except UnicodeDecodeError: key = ''
        if key == '': log.warning('client %d: bad request %r', c.n, line[:40]); return
        if op == b'Put' and len(parts) == 3: self.store.put(key, parts[2])
        elif op == b'Delete' and len(parts) == 2: self.store.delete(key)
        elif op == b'Update' and len(parts) == 4: self.store.update(key, parts[2], parts[3])
        elif op == b'Get' and len(parts) == 2:
            for v in self.store.get(key):
                c.outbox.put_nowait(parts[1] + b':' + v + b'\n')
        else: log.warning('client %d: bad request %r', c.n, line[:40])
