"""Many processes writing reports to one study, and PostgreSQL connections dropped mid-run
(issue 17 point 5): no ask fails, and no write is stored twice.

The long forms (8 processes x 250 trials) are in ``benchmarks/concurrent_writes.py``.
"""

from __future__ import annotations

import uuid

import pytest

from hypersweep.storage import open_storage
from hypersweep.testing.processes import audit_reports, run_workers, terminate_backends


def _check(url: str, study: str, procs: int, per_proc: int) -> None:
    numbers, failed = run_workers(url, study, procs, per_proc)
    assert failed == []
    assert sorted(numbers) == list(range(procs * per_proc))
    audit = audit_reports(url, study)
    assert audit == {
        "trials": procs * per_proc,
        "reports": procs * per_proc,
        "duplicate_reports": 0,
        "trials_without_one_report": 0,
        "not_completed": 0,
    }


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_with_reports_never_fail_an_ask(backend: str, request) -> None:
    """Each trial reports once (the median policy syncs on every report) while other
    processes create and finish trials: before the one-snapshot sync, asks failed here."""
    url = request.getfixturevalue(f"{backend}_url")
    _check(url, "reports", procs=3, per_proc=20)


@pytest.mark.slow
@pytest.mark.postgres
def test_terminated_connections_leave_no_duplicate_rows(postgres_url: str) -> None:
    """The server terminates the workers' connections (pg_terminate_backend) every ~0.3 s;
    their retried transactions must neither fail nor write twice."""
    app = f"hs_kill_{uuid.uuid4().hex[:8]}"
    url = f"{postgres_url}&application_name={app}"
    open_storage(postgres_url).close()  # the schema exists before the killing starts
    killer = terminate_backends(postgres_url, app, every=0.3, min_trials=3)
    numbers, failed = run_workers(url, "killed", procs=3, per_proc=40, during=killer)
    assert sum(killer.killed) > 0, "no connection was terminated: the test tested nothing"
    assert failed == []
    assert sorted(numbers) == list(range(120))
    audit = audit_reports(postgres_url, "killed")
    assert audit == {
        "trials": 120,
        "reports": 120,
        "duplicate_reports": 0,
        "trials_without_one_report": 0,
        "not_completed": 0,
    }


# --------------------------------------------------------------------------------------
# deterministic: the server commits, the reply is lost (a TCP proxy cuts the connection)
# --------------------------------------------------------------------------------------
class _LostReplyProxy:
    """A TCP proxy to PostgreSQL that, when armed, cuts both connections instead of
    forwarding the reply to the next command that commits (a COMMIT, or a statement run
    in autocommit): the server has committed, the client sees a dropped connection."""

    def __init__(self, host: str, port: int) -> None:
        import socket
        import threading

        self.target = (host, port)
        self.armed = False
        self.dropped = 0
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self) -> None:
        with self._lock:
            self.armed = True

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    @staticmethod
    def _up(client, server) -> None:  # client -> server: raw bytes
        try:
            while data := client.recv(65536):
                server.sendall(data)
        except OSError:
            pass
        finally:
            _hang_up(client, server)

    def _down(self, server, client) -> None:  # server -> client: message by message
        import struct

        buf = b""
        held = b""  # the replies since the last ReadyForQuery
        try:
            while data := server.recv(65536):
                buf += data
                while len(buf) >= 5:
                    kind, n = buf[:1], struct.unpack("!I", buf[1:5])[0]
                    if len(buf) < 1 + n:
                        break
                    msg, buf = buf[: 1 + n], buf[1 + n :]
                    held += msg
                    if kind != b"Z":
                        continue
                    # ReadyForQuery: status I = no transaction open, so what was just
                    # completed (a COMMIT, or a statement in autocommit) is committed
                    with self._lock:
                        cut = (
                            self.armed
                            and msg[5:6] == b"I"
                            and b"C" in {held[i : i + 1] for i in _starts(held)}
                        )
                        if cut:
                            self.armed = False
                            self.dropped += 1
                    if cut:
                        raise OSError("cut")
                    client.sendall(held)
                    held = b""
        except OSError:
            pass
        finally:
            _hang_up(client, server)

    def close(self) -> None:
        self.sock.close()


def _starts(buf: bytes) -> list[int]:
    """Offsets of the messages in a buffer of whole protocol messages."""
    import struct

    out, i = [], 0
    while i + 5 <= len(buf):
        out.append(i)
        i += 1 + struct.unpack("!I", buf[i + 1 : i + 5])[0]
    return out


def _hang_up(*socks) -> None:
    import socket

    for s in socks:  # shutdown first: it wakes the other thread's recv and sends FIN
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


@pytest.mark.postgres
def test_a_write_whose_reply_was_lost_is_not_applied_twice(postgres_url: str) -> None:
    """Create, report, claim and finish each commit on the server while the reply is lost;
    the retry on a new connection must return the first attempt's result, not write
    again (before the write ledger: a duplicate report row, a second trial, a second
    claim, and TrialNotRunning from the finish)."""
    import sqlalchemy as sa

    from hypersweep.storage.sql import SQLStorage
    from hypersweep.trial import Objective, TrialState

    parsed = sa.engine.make_url(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    proxy = _LostReplyProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    via = parsed.set(host="127.0.0.1", port=proxy.port).update_query_dict(
        {"sslmode": "disable", "gssencmode": "disable"}
    )
    s = SQLStorage(via.render_as_string(hide_password=False))
    try:
        sid = s.create_study("lost", [Objective("loss")], None).id
        first = s.create_trial(sid, {"x": 0.1})

        proxy.arm()  # report: one transaction, its COMMIT reply is lost
        s.report(sid, first.id, 0, {"loss": 1.0})
        proxy.arm()  # create: one self-committing statement
        second = s.create_trial(sid, {"x": 0.2})
        s.create_trial(sid, {"x": 0.3}, state=TrialState.QUEUED)
        s.create_trial(sid, {"x": 0.4}, state=TrialState.QUEUED)
        proxy.arm()  # claim
        claimed = s.claim_trial(sid, "w")
        proxy.arm()  # finish: one self-committing statement
        done = s.finish_trial(sid, second.id, TrialState.COMPLETED, values=[0.5])
        assert proxy.dropped == 4, "the proxy did not cut every reply"

        assert second.number == 1 and claimed is not None and claimed.number == 2
        assert done.state == TrialState.COMPLETED and done.values == (0.5,)
        got = {t.number: t for t in s.get_trials(sid)}
        assert sorted(got) == [0, 1, 2, 3]
        assert got[0].reports == {0: {"loss": 1.0}}
        assert [got[n].state for n in (1, 2, 3)] == [
            TrialState.COMPLETED,
            TrialState.RUNNING,
            TrialState.QUEUED,
        ]
        with s._engine.connect() as c:
            assert c.exec_driver_sql("SELECT count(*) FROM hs_reports").scalar() == 1
    finally:
        s.close()
        proxy.close()
