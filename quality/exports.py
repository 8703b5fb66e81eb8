"""The dashboard as CSV: one line per row, then the totals; the same figures as the API."""

import csv
import io

from django.http import HttpResponse

from prescriptions.models import RejectionReason
from quality.models import CHECKLIST
from quality.selectors.dashboard import QualityDashboard, QualityRow

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SCALAR_COLUMNS = [
    "consultations",
    "feedback_invited",
    "feedback_responses",
    "response_rate",
    "satisfaction",
    "very_satisfied_rate",
    "wait_median_seconds",
    "wait_p90_seconds",
    "length_median_seconds",
    "length_p90_seconds",
    "prescriptions_reviewed",
    "prescriptions_rejected",
    "rejection_rate",
]
TAIL_COLUMNS = [
    "complaints_filed",
    "complaints_overdue",
    "complaints_resolved",
    "resolve_median_hours",
    "terminal_uptime",
]


def header(by: str) -> list[str]:
    return [
        by,
        "label",
        "detail",
        *SCALAR_COLUMNS,
        *(f"rejection_rate_{reason}" for reason in RejectionReason.values),
        "reviews",
        "review_score",
        *(f"review_{item}" for item in CHECKLIST),
        *TAIL_COLUMNS,
    ]


def _cells(row: QualityRow) -> list[object]:
    figures = row.as_dict()
    return [
        row.key,
        row.label,
        row.detail,
        *(figures[name] for name in SCALAR_COLUMNS),
        *(figures["rejections_by_reason"][reason]["rate"] for reason in RejectionReason.values),
        figures["reviews"],
        figures["review_score"],
        *(figures["review_items"][item] for item in CHECKLIST),
        *(figures[name] for name in TAIL_COLUMNS),
    ]


def _safe(cell: object) -> object:
    """Empty where a figure has nothing to stand on (no responses, no terminals…); text that a
    spreadsheet would take for a formula is quoted."""
    if cell is None:
        return ""
    if isinstance(cell, str) and cell[:1] in FORMULA_PREFIXES:
        return f"'{cell}"
    return cell


def dashboard_csv(dashboard: QualityDashboard) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header(dashboard.by))
    for row in [*dashboard.rows, dashboard.totals]:
        writer.writerow([_safe(cell) for cell in _cells(row)])
    return buffer.getvalue()


def export_filename(dashboard: QualityDashboard) -> str:
    period = dashboard.period
    return f"quality-{dashboard.by}-{period.start.isoformat()}-{period.end.isoformat()}.csv"


def csv_response(dashboard: QualityDashboard) -> HttpResponse:
    """UTF-8 with a byte-order mark, so spreadsheets read the Chinese names."""
    response = HttpResponse(
        "\ufeff" + dashboard_csv(dashboard), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(dashboard)}"'
    return response
