"""The usage page: tokens and cost per user, team, model and day, exact and estimated."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from conversations.models import UsageDaily

URL = "/admin/conversations/usagedaily/"


@pytest.fixture
def ledger(alice, bob, team, chat_model):
    """Alice (in the team) used gpt-4 today and yesterday; bob used another model today."""
    alice.groups.add(team)
    chat_model.price_input_per_million = Decimal(10)
    chat_model.price_output_per_million = Decimal(30)
    chat_model.save()
    today = timezone.localdate()
    rows = [
        (alice, today, "gpt-4", 1000, 200, 0, 0),
        (alice, today - datetime.timedelta(days=1), "gpt-4", 500, 100, 500, 100),
        (bob, today, "llama", 300, 300, 300, 300),
    ]
    for user, day, name, prompt, completion, est_prompt, est_completion in rows:
        UsageDaily.objects.create(
            user=user, day=day, model_name=name, model=chat_model if name == "gpt-4" else None,
            requests=2, prompt_tokens=prompt, completion_tokens=completion,
            estimated_prompt_tokens=est_prompt, estimated_completion_tokens=est_completion,
            cost=Decimal(prompt * 10 + completion * 30) / 1_000_000,
        )  # fmt: skip
    return today


def cells(page: str) -> list[list[str]]:
    body = page.split('<table class="usage-table">')[1].split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).strip()


def test_usage_per_user_sums_the_ledger_with_exact_and_estimated(admin_client, ledger):
    page = admin_client.get(URL).content.decode()
    assert cells(page) == [
        ["alice", "4", "1500", "300", "1800", "600", "0.0240", ""],
        ["bob", "2", "300", "300", "600", "600", "0.0120", ""],
    ]
    totals = page.split('<dl class="usage-totals">')[1].split("</dl>")[0]
    assert "<dd>2400</dd>" in totals  # tokens
    assert "<dd>1200</dd>" in totals  # exact
    assert "<dd>1200</dd>" in totals.split("Estimated")[1]


def test_usage_per_team_model_and_day(admin_client, ledger):
    teams = cells(admin_client.get(URL + "?group=team").content.decode())
    assert [(row[0], row[4]) for row in teams] == [("research", "1800"), ("no team", "600")]
    models = cells(admin_client.get(URL + "?group=model").content.decode())
    assert [(row[0], row[4]) for row in models] == [("gpt-4", "1800"), ("llama", "600")]
    days = cells(admin_client.get(URL + "?group=day").content.decode())
    yesterday = (ledger - datetime.timedelta(days=1)).isoformat()
    assert [(row[0], row[4]) for row in days] == [(yesterday, "600"), (ledger.isoformat(), "1800")]


def test_usage_filters_by_user_team_model_and_range(admin_client, ledger, team):
    assert [r[0] for r in cells(admin_client.get(URL + "?user=bob").content.decode())] == ["bob"]
    by_team = cells(admin_client.get(URL + f"?team={team.pk}").content.decode())
    assert [r[0] for r in by_team] == ["alice"]
    by_model = cells(admin_client.get(URL + "?model=llama").content.decode())
    assert [r[0] for r in by_model] == ["bob"]
    today_only = cells(admin_client.get(URL + f"?start={ledger.isoformat()}").content.decode())
    assert [(r[0], r[4]) for r in today_only] == [("alice", "1200"), ("bob", "600")]


def test_the_chart_draws_one_stacked_bar_per_day(admin_client, ledger):
    start = (ledger - datetime.timedelta(days=6)).isoformat()
    page = admin_client.get(URL + f"?start={start}&end={ledger.isoformat()}").content.decode()
    assert page.count('<g class="bar">') == 7
    assert page.count('<rect class="exact"') == 7
    assert page.count('<rect class="estimated"') == 7
    assert f"{ledger.isoformat()}: 1200 exact, 600 estimated tokens" in page


def test_the_csv_has_every_row_and_defuses_formulas(admin_client, ledger, alice):
    alice.username = "=cmd|calc"
    alice.save()
    response = admin_client.get(URL + "?format=csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("user,requests,prompt_tokens,completion_tokens,total_tokens")
    assert lines[1].startswith("'=cmd|calc,4,1500,300,1800,600,1200,")


def test_ledger_rows_cannot_be_added_changed_or_deleted(admin_client, ledger):
    row = UsageDaily.objects.first()
    assert admin_client.get(URL + "add/").status_code == 403
    assert admin_client.get(URL + f"{row.pk}/delete/").status_code == 403
    admin_client.post(URL + f"{row.pk}/change/", {"prompt_tokens": 1})
    row.refresh_from_db()
    assert row.prompt_tokens != 1
