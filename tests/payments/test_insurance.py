"""The medical-insurance split: only for follow-up visits with verified evidence, fund and
personal account by the configured rates, delivery always self-paid, the personal account
reserved when the split is made and given back when the order closes unpaid."""

import pytest

from core.actors import actor_for_user
from core.exceptions import DomainError
from payments.models import InsuranceSettlement, InsuranceVoucher
from payments.services import (
    insurance_voucher_register,
    order_choose_fulfilment,
    order_close,
    order_pay,
)
from tests.consultations.builders import give_evidence, make_visit
from tests.factories import make_staff
from tests.payments.factories import ADDRESS, make_sale

pytestmark = pytest.mark.django_db

# Order of every test: consultation fee 3000 + one pack at 2350 = 5350 insurable.
INSURABLE = 3000 + 2350


def give_voucher(sale, *, balance_fen=10000):
    return insurance_voucher_register(
        actor=actor_for_user(make_staff(facility=sale.visit.facility)),
        patient=sale.visit.patient,
        insurer="广州市医疗保障局",
        member_id="44010419900101123X",
        personal_account_balance_fen=balance_fen,
    )


def choose(sale, method="pickup", **options):
    address = ADDRESS if method == "delivery" else None
    return order_choose_fulfilment(
        actor=sale.patient_actor,
        order=sale.order,
        method=method,
        delivery_address=address,
        **options,
    )


def balance(voucher):
    voucher.refresh_from_db()
    return voucher.personal_account_balance_fen


def test_a_follow_up_visit_splits_into_fund_personal_account_and_self_pay(settings):
    settings.INSURANCE_FUND_RATE = "0.60"
    settings.INSURANCE_PERSONAL_ACCOUNT_RATE = "0.50"
    sale = make_sale(fulfilment=None)
    voucher = give_voucher(sale)

    order = choose(sale)

    fund = INSURABLE * 60 // 100  # 3210
    personal = (INSURABLE - fund) * 50 // 100  # 1070
    assert (order.insurance_fund_fen, order.insurance_personal_fen) == (fund, personal)
    assert order.payable_fen == INSURABLE - fund - personal == 1070
    assert balance(voucher) == 10000 - personal
    settlement = InsuranceSettlement.objects.get(order=order)
    assert (settlement.fund_fen, settlement.personal_account_fen, settlement.status) == (
        fund,
        personal,
        "reserved",
    )
    assert voucher.member_id_masked == "440************23X"


def test_delivery_is_never_insured(settings):
    settings.PAYMENT_DELIVERY_FEE_FEN = 1000
    sale = make_sale(fulfilment=None)
    give_voucher(sale)

    order = choose(sale, "delivery")

    assert order.total_fen == INSURABLE + 1000
    assert order.insurance_fund_fen == INSURABLE * 60 // 100
    assert order.payable_fen == order.total_fen - order.insurance_fund_fen - 1070


def test_the_personal_account_pays_no_more_than_its_balance():
    sale = make_sale(fulfilment=None)
    voucher = give_voucher(sale, balance_fen=300)

    order = choose(sale)

    assert order.insurance_personal_fen == 300
    assert order.payable_fen == INSURABLE - INSURABLE * 60 // 100 - 300
    assert balance(voucher) == 0


def test_choosing_again_gives_the_first_reservation_back():
    sale = make_sale(fulfilment=None)
    voucher = give_voucher(sale)
    choose(sale)

    order = choose(sale, "delivery")

    assert balance(voucher) == 10000 - order.insurance_personal_fen
    assert InsuranceSettlement.objects.filter(order=order).count() == 1


def test_declining_insurance_pays_everything_yourself():
    sale = make_sale(fulfilment=None)
    voucher = give_voucher(sale)

    order = choose(sale, use_insurance=False)

    assert (order.insurance_fund_fen, order.insurance_personal_fen, order.payable_fen) == (
        0,
        0,
        INSURABLE,
    )
    assert balance(voucher) == 10000
    assert not InsuranceSettlement.objects.filter(status="reserved").exists()


def test_no_split_without_verified_follow_up_evidence():
    visit = make_visit("completed", evidence=False)
    give_evidence(visit.patient, visit.staff, verified_by=None)
    sale = make_sale(visit=visit, fulfilment=None)
    voucher = give_voucher(sale)

    order = choose(sale)

    assert (order.insurance_fund_fen, order.insurance_personal_fen) == (0, 0)
    assert order.payable_fen == INSURABLE
    assert balance(voucher) == 10000
    assert not InsuranceSettlement.objects.exists()


def test_closing_the_order_unpaid_releases_the_reservation():
    sale = make_sale(fulfilment=None)
    voucher = give_voucher(sale)
    choose(sale)

    order_close(order=sale.order, reason="timeout")

    assert balance(voucher) == 10000
    assert InsuranceSettlement.objects.get(order=sale.order).status == "released"


def test_an_order_insurance_covers_entirely_is_paid_without_a_provider(settings):
    settings.INSURANCE_FUND_RATE = "0.70"
    settings.INSURANCE_PERSONAL_ACCOUNT_RATE = "1.00"
    sale = make_sale(fulfilment=None)
    voucher = give_voucher(sale)
    choose(sale)

    started = order_pay(
        actor=sale.patient_actor, order=sale.order, provider="wechatpay", channel="native"
    )

    assert started.attempt is None
    order = sale.refresh()
    assert (order.status, order.payable_fen, order.paid_fen) == ("paid", 0, 0)
    assert list(order.ledger.values_list("kind", "amount_fen")) == [("paid", 0)]
    assert InsuranceSettlement.objects.get(order=order).status == "settled"
    assert balance(voucher) == 10000 - (INSURABLE - INSURABLE * 70 // 100)


def test_a_voucher_needs_staff_or_operations_and_its_details():
    sale = make_sale(fulfilment=None)
    with pytest.raises(DomainError) as refused:
        insurance_voucher_register(
            actor=sale.patient_actor,
            patient=sale.visit.patient,
            insurer="广州市医疗保障局",
            member_id="1",
            personal_account_balance_fen=1,
        )
    assert refused.value.status_code == 403
    assert not InsuranceVoucher.objects.exists()
