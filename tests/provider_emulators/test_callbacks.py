"""The emulators' notifications, delivered over real HTTP to a receiver on the live server: the
provider's success rule, retries on the provider's schedule (a real Celery worker replays the
WeChat Pay schedule compressed), signature probes, lost and replayed notifications, the sweep."""

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from django.conf import settings
from django.utils import timezone

from provider_emulators import services
from provider_emulators.hooks import (
    emulator_callbacks,
    emulator_deliver_callback,
    emulator_pay,
    emulator_replay_schedule,
    emulator_trade,
)
from provider_emulators.models import (
    CallbackStatus,
    Channel,
    EmulatedCallback,
    EmulatedCallbackAttempt,
    EmulatedRefund,
    Provider,
    RefundState,
)
from provider_emulators.services import TradeOrder
from telehealth.celery import app
from tests.payments.providers.support import CallbackReceiver, Emulators
from tests.support.celery_broker import celery_broker
from tests.support.processes import (
    CeleryWorker,
    RedisServer,
    service_env,
    wait_until,
    worker_database_url,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.payments.providers.support"),
]

WECHATPAY_SCHEDULE = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800]
WECHATPAY_SCHEDULE += [21600, 21600]
ALIPAY_SCHEDULE = [240, 600, 600, 3600, 7200, 21600, 54000]


def _open(provider: str, out_trade_no: str, notify_url: str, amount_fen: int = 8640) -> None:
    wechatpay = provider == Provider.WECHATPAY
    services.trade_open(
        order=TradeOrder(
            provider=provider,
            merchant_id=settings.WECHATPAY_MCHID if wechatpay else settings.ALIPAY_SELLER_ID,
            app_id=settings.WECHATPAY_APPID if wechatpay else settings.ALIPAY_APPID,
            out_trade_no=out_trade_no,
            channel=Channel.NATIVE if wechatpay else Channel.PRECREATE,
            description="处方药品",
            amount_fen=amount_fen,
            notify_url=notify_url,
            expires_at=None,
        ),
        scanned=True,
    )


def _attempts(callback: EmulatedCallback) -> list[tuple[int, bool, bool]]:
    return [
        (attempt.number, attempt.probe, attempt.accepted)
        for attempt in callback.attempt_log.order_by("pk")
    ]


@pytest.mark.parametrize("provider", [Provider.WECHATPAY, Provider.ALIPAY])
def test_a_refused_notification_is_sent_again_until_acknowledged(
    provider: str, emulators: Emulators, receiver: CallbackReceiver, settings: Any
) -> None:
    settings.PAYMENT_EMULATOR_RETRY_FACTOR = 0  # in-process tasks: every retry comes at once
    receiver.fail_next = 2
    _open(provider, "CBRETRY001", emulators.notify_url(provider))

    emulator_pay(provider=provider, out_trade_no="CBRETRY001")

    [callback] = emulator_callbacks(provider=provider, out_trade_no="CBRETRY001")
    assert (callback.status, callback.attempts) == (CallbackStatus.DELIVERED, 3)
    assert _attempts(callback) == [(1, False, False), (2, False, False), (3, False, True)]
    assert [r.notification.event_id for r in receiver.received if r.notification] == [
        callback.event_id
    ] * 3


@pytest.mark.parametrize(("provider", "attempts"), [(Provider.WECHATPAY, 16), (Provider.ALIPAY, 8)])
def test_the_provider_gives_up_after_its_last_retry(
    provider: str,
    attempts: int,
    emulators: Emulators,
    receiver: CallbackReceiver,
    settings: Any,
) -> None:
    settings.PAYMENT_EMULATOR_RETRY_FACTOR = 0
    receiver.fail_next = 100
    _open(provider, "CBGIVEUP01", emulators.notify_url(provider))

    emulator_pay(provider=provider, out_trade_no="CBGIVEUP01")

    [callback] = emulator_callbacks(provider=provider, out_trade_no="CBGIVEUP01")
    assert (callback.status, callback.attempts, callback.next_attempt_at) == (
        CallbackStatus.GAVE_UP,
        attempts,
        None,
    )
    assert len(receiver.received) == attempts


def test_the_default_schedules_are_the_providers(settings: Any) -> None:
    settings.PAYMENT_EMULATOR_RETRY_FACTOR = 1

    assert services.retry_schedule(Provider.WECHATPAY) == WECHATPAY_SCHEDULE
    assert services.retry_schedule(Provider.ALIPAY) == ALIPAY_SCHEDULE
    settings.PAYMENT_EMULATOR_RETRY_FACTOR = 0.01
    assert services.retry_schedule(Provider.ALIPAY)[0] == pytest.approx(2.4)


def test_a_failed_attempt_waits_for_the_next_step_of_the_schedule(
    emulators: Emulators, receiver: CallbackReceiver
) -> None:
    receiver.fail_next = 1
    _open(Provider.WECHATPAY, "CBWAIT0001", emulators.notify_url(Provider.WECHATPAY))

    emulator_pay(provider=Provider.WECHATPAY, out_trade_no="CBWAIT0001")

    [callback] = emulator_callbacks(provider=Provider.WECHATPAY, out_trade_no="CBWAIT0001")
    [attempt] = callback.attempt_log.all()
    assert (callback.status, callback.attempts) == (CallbackStatus.PENDING, 1)
    first_retry_at = attempt.finished_at + dt.timedelta(seconds=15)
    assert callback.next_attempt_at == first_retry_at
    assert services.callback_deliver_due(callback_id=callback.pk) is None  # not due yet
    assert len(receiver.received) == 1


def test_an_unreachable_merchant_is_an_attempt_that_failed(receiver: CallbackReceiver) -> None:
    _open(Provider.ALIPAY, "CBDOWN0001", "http://127.0.0.1:9/notify")

    emulator_pay(provider=Provider.ALIPAY, out_trade_no="CBDOWN0001")

    [callback] = emulator_callbacks(provider=Provider.ALIPAY, out_trade_no="CBDOWN0001")
    [attempt] = callback.attempt_log.all()
    assert (attempt.http_status, attempt.accepted) == (None, False)
    assert attempt.error.startswith("ConnectError")
    assert callback.status == CallbackStatus.PENDING
    retry_at = attempt.finished_at + dt.timedelta(seconds=240)
    assert callback.next_attempt_at == retry_at


@pytest.mark.parametrize("reply", [b"SUCCESS", b"success\n", b"ok", b""])
def test_alipay_counts_only_the_exact_reply_success(
    reply: bytes, emulators: Emulators, receiver: CallbackReceiver
) -> None:
    receiver.reply_body = reply
    _open(Provider.ALIPAY, "CBREPLY001", emulators.notify_url(Provider.ALIPAY))

    emulator_pay(provider=Provider.ALIPAY, out_trade_no="CBREPLY001")

    [callback] = emulator_callbacks(provider=Provider.ALIPAY, out_trade_no="CBREPLY001")
    assert _attempts(callback) == [(1, False, False)]
    assert callback.status == CallbackStatus.PENDING


def test_a_wechatpay_signature_probe_comes_first_and_is_refused(
    emulators: Emulators, receiver: CallbackReceiver, settings: Any
) -> None:
    settings.PAYMENT_EMULATOR_SIGNATURE_PROBE_RATE = 1.0
    _open(Provider.WECHATPAY, "CBPROBE001", emulators.notify_url(Provider.WECHATPAY))

    emulator_pay(provider=Provider.WECHATPAY, out_trade_no="CBPROBE001")

    [callback] = emulator_callbacks(provider=Provider.WECHATPAY, out_trade_no="CBPROBE001")
    assert _attempts(callback) == [(1, True, False), (1, False, True)]
    assert [r.rejected for r in receiver.received] == ["signature_probe", ""]
    assert receiver.received[0].headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert receiver.received[0].body == receiver.received[1].body
    assert callback.status == CallbackStatus.DELIVERED


def test_a_lost_notification_is_never_sent_until_a_test_delivers_it(
    emulators: Emulators, receiver: CallbackReceiver
) -> None:
    _open(Provider.WECHATPAY, "CBLOST0001", emulators.notify_url(Provider.WECHATPAY))

    emulator_pay(provider=Provider.WECHATPAY, out_trade_no="CBLOST0001", callback=False)

    assert emulator_callbacks(provider=Provider.WECHATPAY, out_trade_no="CBLOST0001") == []
    assert receiver.received == []
    outcome = emulator_deliver_callback(provider=Provider.WECHATPAY, out_trade_no="CBLOST0001")
    assert (outcome.attempt, outcome.accepted, outcome.http_status) == (1, True, 204)
    [received] = receiver.received
    assert received.notification is not None
    assert received.notification.out_trade_no == "CBLOST0001"


@pytest.mark.parametrize(("provider", "attempts"), [("wechatpay", 16), ("alipay", 8)])
def test_replaying_the_whole_schedule_repeats_one_notification(
    provider: str, attempts: int, emulators: Emulators, receiver: CallbackReceiver
) -> None:
    _open(provider, "CBREPLAY01", emulators.notify_url(provider))
    emulator_pay(provider=provider, out_trade_no="CBREPLAY01")
    receiver.reset()

    outcomes = emulator_replay_schedule(provider=provider, out_trade_no="CBREPLAY01")

    assert [(outcome.attempt, outcome.accepted) for outcome in outcomes] == [
        (number, True) for number in range(2, attempts + 2)
    ]
    notifications = [r.notification for r in receiver.received]
    assert len(notifications) == attempts
    assert {n.event_id for n in notifications if n} == {
        emulator_callbacks(provider=provider, out_trade_no="CBREPLAY01")[0].event_id
    }
    if provider == Provider.ALIPAY:
        # every delivery is signed afresh, with its own notify_time
        assert all("notify_time" in dict(parse_qsl(r.body.decode())) for r in receiver.received)
    else:
        assert len({r.headers["Wechatpay-Nonce"] for r in receiver.received}) == attempts


def test_refund_notifications_follow_each_providers_rule(
    emulators: Emulators, receiver: CallbackReceiver
) -> None:
    for provider in (Provider.WECHATPAY, Provider.ALIPAY):
        _open(provider, "CBREFUND01", emulators.notify_url(provider))
        trade = emulator_pay(provider=provider, out_trade_no="CBREFUND01", callback=False)
        # WeChat Pay notifies the refund's own notify_url (none here); Alipay the payment's.
        services.refund_create(
            trade_pk=trade.pk,
            out_refund_no="R1",
            amount_fen=100,
            total_fen=None,
            reason="",
            notify_url="",
        )

    assert [(r.provider, r.notification.kind) for r in receiver.received if r.notification] == [
        ("alipay", "refund")
    ]
    assert EmulatedRefund.objects.filter(state=RefundState.SUCCESS).count() == 2


def test_the_sweep_sends_what_is_due_and_settles_stuck_refunds(
    emulators: Emulators, receiver: CallbackReceiver
) -> None:
    _open(Provider.WECHATPAY, "CBSWEEP001", emulators.notify_url(Provider.WECHATPAY))
    trade = emulator_pay(provider=Provider.WECHATPAY, out_trade_no="CBSWEEP001", callback=False)
    [callback] = [services.callback_for(trade, refund=None, create=True)]
    a_minute_ago = timezone.now() - dt.timedelta(minutes=1)
    EmulatedCallback.objects.filter(pk=callback.pk).update(next_attempt_at=a_minute_ago)
    refund = EmulatedRefund.objects.create(
        trade=trade, out_refund_no="STUCK1", refund_id="50000000000000000000000000001", amount_fen=1
    )
    EmulatedRefund.objects.filter(pk=refund.pk).update(created_at=a_minute_ago)

    published = services.callbacks_sweep()

    assert published == 1
    callback.refresh_from_db()
    refund.refresh_from_db()
    assert (callback.status, refund.state) == (CallbackStatus.DELIVERED, RefundState.SUCCESS)
    assert [r.notification.out_trade_no for r in receiver.received if r.notification] == [
        "CBSWEEP001"
    ]


@pytest.mark.postgres
@pytest.mark.redis
def test_a_worker_follows_the_wechatpay_schedule_then_gives_up(
    emulators: Emulators,
    receiver: CallbackReceiver,
    settings: Any,
    tmp_path: Path,
    payment_keys_dir: Path,
) -> None:
    """The real schedule times 1/10000 (86 640 s become 8.7 s), through Redis and a worker."""
    factor = 0.0001
    settings.PAYMENT_EMULATOR_RETRY_FACTOR = factor
    receiver.fail_next = 100
    redis = RedisServer(tmp_path)
    worker = None
    try:
        with celery_broker(redis.url):
            worker = CeleryWorker(
                queue="default",
                env=service_env(
                    DATABASE_URL=worker_database_url(),
                    REDIS_URL=redis.url,
                    CELERY_BROKER_URL=None,
                    CELERY_RESULT_BACKEND=None,
                    PAYMENT_KEYS_DIR=str(payment_keys_dir),
                    PAYMENT_KEYS_AUTOCREATE="false",
                    PAYMENT_EMULATOR_RETRY_FACTOR=str(factor),
                    PAYMENT_EMULATOR_SIGNATURE_PROBE_RATE="0",
                ),
                log_path=tmp_path / "worker.log",
            )
            worker.wait_ready(app)
            _open(Provider.WECHATPAY, "CBWORKER01", emulators.notify_url(Provider.WECHATPAY))

            emulator_pay(provider=Provider.WECHATPAY, out_trade_no="CBWORKER01")

            trade = emulator_trade(provider=Provider.WECHATPAY, out_trade_no="CBWORKER01")

            def gave_up() -> bool:
                return trade.callbacks.get().status == CallbackStatus.GAVE_UP

            try:
                wait_until(gave_up, timeout=180, interval=0.2, what="the last retry")
            except TimeoutError:
                pytest.fail(f"not given up: {_attempts(trade.callbacks.get())}\n{worker.log()}")
    finally:
        if worker is not None:
            worker.stop()
        redis.kill()

    attempts = list(
        EmulatedCallbackAttempt.objects.filter(callback__trade=trade, probe=False).order_by(
            "number"
        )
    )
    assert [(attempt.number, attempt.accepted) for attempt in attempts] == [
        (number, False) for number in range(1, 17)
    ]
    for previous, attempt, seconds in zip(
        attempts[:-1], attempts[1:], WECHATPAY_SCHEDULE, strict=True
    ):
        assert attempt.scheduled_for is not None
        waited = attempt.scheduled_for - previous.finished_at
        scheduled_wait = dt.timedelta(seconds=seconds * factor)
        assert waited == scheduled_wait
        assert attempt.sent_at >= attempt.scheduled_for
    assert len(receiver.received) == 16
    assert len({r.notification.event_id for r in receiver.received if r.notification}) == 1
