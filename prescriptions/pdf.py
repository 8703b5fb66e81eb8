"""The printable prescription (处方笺): 前记 (institution, patient, diagnosis), 正文 (Rp: the
items) and 后记 (doctor's and pharmacist's signatures, amount), with a QR code that opens the
public verification page. Chinese text uses reportlab's built-in CID font (no font files)."""

import io

import segno
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from core.dates import age_on
from prescriptions.models import Frequency, Prescription, Route

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def verification_url(prescription: Prescription) -> str:
    path = reverse("prescription-verify-page", kwargs={"public_id": prescription.public_id})
    return f"{settings.SITE_URL}{path}"


def _qr_image(url: str) -> ImageReader:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
    buffer.seek(0)
    return ImageReader(buffer)


def _local(value: object) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""  # type: ignore[arg-type]


def render_prescription_pdf(prescription: Prescription) -> bytes:
    width, height = A5
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A5, pageCompression=1)
    pdf.setTitle(f"{prescription.number} v{prescription.version}")
    left, right = 12 * mm, width - 12 * mm
    y = height - 14 * mm

    def line(text: str, *, size: float = 9, x: float = left, step: float = 5 * mm) -> None:
        nonlocal y
        pdf.setFont(FONT, size)
        pdf.drawString(x, y, text)
        y -= step

    def rule() -> None:
        nonlocal y
        pdf.line(left, y + 2 * mm, right, y + 2 * mm)
        y -= 2 * mm

    # 前记
    pdf.setFont(FONT, 13)
    pdf.drawCentredString(width / 2, y, settings.NOTIFICATION_HOSPITAL_NAME)
    y -= 7 * mm
    pdf.setFont(FONT, 15)
    pdf.drawCentredString(width / 2, y, "互联网医院电子处方笺")
    y -= 8 * mm
    patient = prescription.patient
    signed_on = timezone.localtime(prescription.signed_at) if prescription.signed_at else None
    age = age_on(patient.birth_date, signed_on.date()) if signed_on else ""
    number = f"{prescription.number}-{prescription.version}"
    line(f"处方编号：{number}    开具日期：{_local(prescription.signed_at)}")
    line(
        f"姓名：{patient.name}    性别：{patient.get_sex_display().split()[0]}    年龄：{age}岁"
        f"    科别：{prescription.doctor.department.name}"
    )
    if prescription.guardian_name:
        line(f"监护人：{prescription.guardian_name}（{prescription.guardian_relationship}）")
    line(f"临床诊断：{prescription.diagnosis.name_zh}（{prescription.diagnosis.code}）")
    line(f"就诊机构：{prescription.consultation.facility.name}")
    rule()
    # 正文
    line("Rp.", size=14, step=7 * mm)
    total = 0
    for index, item in enumerate(prescription.items.select_related("drug").order_by("position"), 1):
        drug = item.drug
        amount = item.unit_price_fen * item.quantity
        total += amount
        line(f"{index}. {drug.name_zh}  {drug.strength}  ×{item.quantity}{drug.pack_unit}", size=10)
        frequency = Frequency(item.frequency).label.split()[0]
        route = Route(item.route).label.split()[0]
        line(
            f"    用法：每次{item.dose.normalize():f}{item.dose_unit}，{frequency}，{route}，"
            f"共{item.days_supply}天  {item.instructions}",
            size=8.5,
        )
    if prescription.long_term:
        line(f"长期处方：{prescription.long_term_assessment[:60]}", size=8.5)
    if prescription.supply_reason:
        line(f"超量说明：{prescription.supply_reason[:60]}", size=8.5)
    y -= 2 * mm
    rule()
    # 后记
    line(f"药品金额：¥{total / 100:.2f}    有效期至：{_local(prescription.valid_until)}")
    line(
        f"医师：{prescription.doctor.user.full_name}（电子签名）  {_local(prescription.signed_at)}"
    )
    line(f"    证书序列号：{prescription.doctor_certificate_serial}", size=7.5, step=4.5 * mm)
    if prescription.pharmacist is not None and prescription.pharmacist_signature:
        line(
            f"审核药师：{prescription.pharmacist.user.full_name}（电子签名）  "
            f"{_local(prescription.reviewed_at)}"
        )
        line(
            f"    证书序列号：{prescription.pharmacist_certificate_serial}", size=7.5, step=4.5 * mm
        )
    else:
        line("审核药师：待审核")
    line(f"状态：{prescription.get_status_display().split()[0]}")
    size = 30 * mm
    pdf.drawImage(_qr_image(verification_url(prescription)), right - size, 10 * mm, size, size)
    pdf.setFont(FONT, 7)
    pdf.drawRightString(right, 8 * mm, "扫码核验处方真伪 Scan to verify")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
