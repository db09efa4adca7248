"""Delivery: the message, the backends (outbox, SMTP via aiosmtpd, SendGrid via the fake),
the composed -> sending claim, suppression, retries and reconciliation after a lost answer."""

from __future__ import annotations

import datetime as dt
import email
import socket
import ssl

import pytest
from sqlmodel import select

from newsletter.core import config
from newsletter.core.models import (
    Digest,
    DigestStatus,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.delivery.backends import TransientError, send_transactional
from newsletter.delivery.backends.outbox import OutboxBackend
from newsletter.delivery.backends.smtp import SmtpBackend
from newsletter.delivery.message import build_message, build_transactional
from newsletter.delivery.state import deliver_digest, deliver_many, pending_deliveries
from tests.factories import make_subscriber
from tests.fake_sendgrid import API_KEY, FakeSendGrid


def make_digest(session, subscriber=None, **fields) -> Digest:
    subscriber = subscriber or make_subscriber(session)
    values = {"subscriber_id": subscriber.id, "local_date": dt.date(2026, 11, 25),
              "status": DigestStatus.COMPOSED, "subject": "Your digest: attention",
              "text": "Hello in text", "html": "<p>Hello in <b>html</b></p>"}
    values.update(fields)
    digest = Digest(**values)
    session.add(digest)
    session.commit()
    return digest


@pytest.fixture
def fake(monkeypatch):
    # A "hang" outlasts the client's timeout; every other answer is immediate, and the
    # timeout leaves a loaded machine room to deliver it (0.5 s did not, now and then).
    with FakeSendGrid(hang_seconds=10) as server:
        monkeypatch.setenv("EMAIL_BACKEND", "sendgrid")
        monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
        monkeypatch.setenv("SENDGRID_API_HOST", server.url)
        monkeypatch.setenv("SENDGRID_TIMEOUT", "2")
        monkeypatch.setenv("DELIVER_RECONCILE_SECONDS", "0")
        config.get_settings.cache_clear()
        yield server


def test_it_builds_a_multipart_message_with_list_headers(session):
    digest = make_digest(session)
    subscriber = session.get(Subscriber, digest.subscriber_id)
    message = build_message(digest, subscriber)
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Your digest: attention"
    assert message["Message-ID"] and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["List-Unsubscribe"].startswith("<https://hub.example.org/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] and message["X-AcademicHub-Digest"] == str(digest.id)
    raw = message.as_bytes()
    assert b"\nList-Unsubscribe: <https://hub.example.org/u/" in raw  # never RFC 2047-encoded


def test_it_writes_the_outbox_and_marks_the_digest_sent(session, settings_env):
    digest = make_digest(session)
    assert deliver_digest(session, digest.id) == DigestStatus.SENT
    session.refresh(digest)
    files = sorted(p.name for p in settings_env.outbox_dir.iterdir())
    assert [f.rsplit("-", 2)[-2:] for f in files] == [["digest", f"{digest.id}.eml"],
                                                       ["digest", f"{digest.id}.html"]]
    assert digest.provider_message_id.startswith("outbox:") and digest.sent_at
    assert digest.attempts == 1
    parsed = email.message_from_bytes((settings_env.outbox_dir / files[0]).read_bytes())
    assert parsed["X-AcademicHub-Digest"] == str(digest.id)


def test_it_sends_a_digest_only_once_however_often_deliver_runs(session, settings_env):
    digest = make_digest(session)
    outcomes = [deliver_digest(session, digest.id) for _ in range(3)]
    assert outcomes == ["sent", "sent", "sent"]
    assert len(list(settings_env.outbox_dir.glob("*.eml"))) == 1


def test_it_goes_on_only_when_its_claim_changed_one_row(session, settings_env):
    digest = make_digest(session)
    session.get(Digest, digest.id).status = DigestStatus.SENT  # another worker finished it
    session.commit()
    assert deliver_digest(session, digest.id) == DigestStatus.SENT
    assert not settings_env.outbox_dir.exists()


def test_it_never_sends_to_a_suppressed_address(session, settings_env):
    digest = make_digest(session)
    session.add(Suppression(email="ada@example.org", reason="bounce"))
    session.commit()
    assert deliver_digest(session, digest.id) == DigestStatus.SKIPPED
    session.refresh(digest)
    assert "suppressed (bounce)" in digest.error
    assert not settings_env.outbox_dir.exists()


@pytest.mark.parametrize("status", [SubscriberStatus.PAUSED, SubscriberStatus.UNSUBSCRIBED,
                                    SubscriberStatus.BOUNCED])
def test_it_never_sends_to_a_subscriber_who_is_not_active(session, settings_env, status):
    digest = make_digest(session, make_subscriber(session, status=status))
    assert deliver_digest(session, digest.id) == DigestStatus.SKIPPED
    assert not settings_env.outbox_dir.exists()


def test_it_reconciles_a_digest_stuck_in_sending_without_a_second_email(session, settings_env):
    """A crash after the outbox write but before our commit: the file is the provider record."""
    digest = make_digest(session)
    subscriber = session.get(Subscriber, digest.subscriber_id)
    OutboxBackend().send(build_message(digest, subscriber), digest_id=digest.id)
    digest.status, digest.attempts = DigestStatus.SENDING, 1
    session.commit()
    assert deliver_digest(session, digest.id) == DigestStatus.SENT
    assert len(list(settings_env.outbox_dir.glob("*.eml"))) == 1
    assert session.get(Digest, digest.id).provider_message_id.startswith("outbox:")


def test_it_waits_before_resending_a_stuck_digest_with_no_trace(session, settings_env):
    digest = make_digest(session, status=DigestStatus.SENDING, attempts=1)
    session.add(Event(digest_id=digest.id, type="attempt"))
    session.commit()
    with pytest.raises(TransientError) as caught:
        deliver_digest(session, digest.id)
    assert caught.value.retry_after > 60
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=5)
    assert deliver_digest(session, digest.id, now=later) == DigestStatus.SENT
    assert session.get(Digest, digest.id).attempts == 2


def test_it_lists_stuck_and_orphaned_digests_for_the_sweep(session):
    now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    old = make_digest(session, composed_at=now - dt.timedelta(hours=1))
    fresh = make_digest(session, make_subscriber(session, "b@example.org"),
                        composed_at=now - dt.timedelta(seconds=5))
    make_digest(session, make_subscriber(session, "c@example.org"), status=DigestStatus.SENT)
    assert pending_deliveries(session, now) == [old.id]
    assert fresh.id not in pending_deliveries(session, now)


# --- SendGrid, through the real SDK against the fake -------------------------------------

def test_it_sends_through_sendgrid_with_ids_only_and_text_first(session, fake):
    digest = make_digest(session)
    assert deliver_digest(session, digest.id) == DigestStatus.SENT
    [sent] = fake.accepted
    assert sent["to"] == ["ada@example.org"]
    assert sent["content_types"] == ["text/plain", "text/html"]
    assert sent["custom_args"] == {"digest_id": str(digest.id)}
    assert sent["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent["headers"]["List-Unsubscribe"].startswith("<https://hub.example.org/u/")
    assert "List-Id" in sent["headers"]
    assert session.get(Digest, digest.id).provider_message_id == sent["message_id"]


def test_it_treats_429_as_transient_and_honours_the_rate_limit_reset(session, fake):
    digest = make_digest(session)
    fake.script(429)
    with pytest.raises(TransientError) as caught:
        deliver_digest(session, digest.id)
    assert 0 <= caught.value.retry_after <= 2 and not caught.value.ambiguous
    session.refresh(digest)
    assert digest.status == DigestStatus.COMPOSED and "429" in digest.error


def test_it_sends_exactly_once_after_429_then_500_then_202(session, fake):
    digest = make_digest(session)
    fake.script(429, 500, 202)
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(deliver_digest(session, digest.id))
        except TransientError as error:
            outcomes.append(str(error)[:12])
    assert outcomes == ["SendGrid 429", "SendGrid 500", "sent"]
    assert len(fake.accepted) == 1
    assert session.get(Digest, digest.id).attempts == 3


def test_it_fails_permanently_on_a_400_with_the_reason(session, fake):
    digest = make_digest(session)
    fake.script(400)
    assert deliver_digest(session, digest.id) == DigestStatus.FAILED
    session.refresh(digest)
    assert digest.error.startswith("permanent: SendGrid 400") and "scripted 400" in digest.error
    assert not fake.accepted


def test_it_reconciles_a_timeout_where_the_provider_had_accepted(session, fake):
    digest = make_digest(session)
    fake.script("hang")
    with pytest.raises(TransientError) as caught:
        deliver_digest(session, digest.id)
    assert caught.value.ambiguous
    assert session.get(Digest, digest.id).status == DigestStatus.SENDING  # not back to composed
    assert deliver_digest(session, digest.id) == DigestStatus.SENT
    assert len(fake.accepted) == 1
    assert session.get(Digest, digest.id).provider_message_id == fake.accepted[0]["message_id"]


def test_it_resends_after_a_timeout_the_provider_never_accepted(session, fake):
    digest = make_digest(session)
    fake.script("hang-reject")
    with pytest.raises(TransientError):
        deliver_digest(session, digest.id)
    assert not fake.accepted
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)  # past the backend's timeout
    assert deliver_digest(session, digest.id, now=later) == DigestStatus.SENT
    assert len(fake.accepted) == 1


def test_it_gives_up_after_the_maximum_attempts(session, fake, monkeypatch):
    monkeypatch.setenv("DELIVER_MAX_ATTEMPTS", "2")
    config.get_settings.cache_clear()
    digest = make_digest(session)
    fake.script(500, 500)
    with pytest.raises(TransientError):
        deliver_digest(session, digest.id)
    assert deliver_digest(session, digest.id) == DigestStatus.FAILED
    assert "gave up after 2 attempts" in session.get(Digest, digest.id).error


def test_it_refuses_a_wrong_api_key_as_permanent(session, fake, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.wrong")
    config.get_settings.cache_clear()
    digest = make_digest(session)
    assert deliver_digest(session, digest.id) == DigestStatus.FAILED
    assert "401" in session.get(Digest, digest.id).error


def test_it_sends_transactional_mail_through_the_configured_backend(session, fake):
    from types import SimpleNamespace

    rendered = SimpleNamespace(subject="Confirm", preheader="", html="<p>x</p>", text="x")
    message = build_transactional("new@example.org", rendered)
    assert send_transactional(message).startswith("fake")
    assert fake.accepted[0]["custom_args"] == {} and fake.accepted[0]["to"] == ["new@example.org"]


# --- SMTP against a real local server (aiosmtpd) ------------------------------------------

class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    # Valid whatever the date: OpenSSL checks it against the real clock, not a travelled one.
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_it_sends_through_plain_smtp(session, monkeypatch):
    from aiosmtpd.controller import Controller

    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("EMAIL_BACKEND", "smtp")
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(port))
        monkeypatch.setenv("SMTP_SECURITY", "none")
        config.get_settings.cache_clear()
        digest = make_digest(session)
        assert deliver_digest(session, digest.id) == DigestStatus.SENT
    finally:
        controller.stop()
    [envelope] = inbox.messages
    assert envelope.rcpt_tos == ["ada@example.org"]
    parsed = email.message_from_bytes(envelope.content)
    assert session.get(Digest, digest.id).provider_message_id == parsed["Message-ID"]


def test_it_sends_through_smtp_with_starttls_and_auth(session, tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session_, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password in (b"s3cret", "s3cret"))

    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True, authenticator=authenticator,
                            auth_required=True, server_hostname="localhost")
    controller.start()
    client_tls = ssl.create_default_context(cafile=str(cert))
    client_tls.check_hostname = False  # the server is reached as 127.0.0.1
    try:
        backend = SmtpBackend(host="127.0.0.1", port=port, security="starttls",
                          username="relay", password="s3cret", context=client_tls)
        digest = make_digest(session)
        assert deliver_digest(session, digest.id, backend=backend) == DigestStatus.SENT
    finally:
        controller.stop()
    assert len(inbox.messages) == 1 and logins[0][0] in (b"relay", "relay")


def test_it_reports_an_unreachable_smtp_server_as_transient(session):
    backend = SmtpBackend(host="127.0.0.1", port=_free_port(), security="none")
    digest = make_digest(session)
    with pytest.raises(TransientError):
        deliver_digest(session, digest.id, backend=backend)
    assert session.get(Digest, digest.id).status == DigestStatus.COMPOSED


def test_it_records_each_attempt_before_sending(session, fake):
    digest = make_digest(session)
    fake.script(500)
    with pytest.raises(TransientError):
        deliver_digest(session, digest.id)
    deliver_digest(session, digest.id)
    attempts = session.exec(select(Event).where(Event.digest_id == digest.id,
                                                Event.type == "attempt")).all()
    assert [event.payload["attempt"] for event in attempts] == [1, 2]


def test_it_delivers_a_batch_once_each_and_hands_back_the_one_to_retry(session, fake):
    readers = [make_subscriber(session, f"batch{n}@example.org") for n in range(4)]
    digests = [make_digest(session, reader) for reader in readers]
    session.add(Suppression(email="batch3@example.org", reason="bounce"))
    session.commit()
    fake.script(202, 429)  # the second digest of the batch is rate limited

    outcomes = deliver_many(session, [d.id for d in digests])

    assert [outcomes[d.id] for d in (digests[0], digests[2], digests[3])] == [
        DigestStatus.SENT, DigestStatus.SENT, DigestStatus.SKIPPED]
    assert isinstance(outcomes[digests[1].id], TransientError)
    assert sorted(m["to"][0] for m in fake.accepted) == ["batch0@example.org",
                                                        "batch2@example.org"]
    assert deliver_digest(session, digests[1].id) == DigestStatus.SENT  # its retry
    again = deliver_many(session, [d.id for d in digests])  # a redelivered batch
    assert again == {d.id: s for d, s in zip(digests, ["sent", "sent", "sent", "skipped"])}
    assert len(fake.accepted) == 3
    attempts = [e.payload["attempt"] for e in session.exec(
        select(Event).where(Event.type == "attempt").order_by(Event.id)).all()]
    assert attempts == [1, 1, 1, 2]  # each recorded before its send, counted per digest


def test_it_reconciles_a_batch_digest_left_in_sending_instead_of_resending(session, fake):
    digest = make_digest(session)
    fake.script("hang")  # the provider accepts it, but the answer never arrives
    assert isinstance(deliver_many(session, [digest.id])[digest.id],
                      TransientError)
    assert deliver_many(session, [digest.id]) == {digest.id: DigestStatus.SENT}
    assert len(fake.accepted) == 1
    assert session.exec(select(Event).where(Event.type == "reconciled")).all()
