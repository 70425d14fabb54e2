"""The dunning queue as a work queue: work states in the ops store, kept across syncs, resolved
by the warehouse, saved optimistically (two agents: one wins, the other is told)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from console import ops
from console.ops import work_state
from console.ops.store import IntegrityError
from console.rules.work import WorkState, shown_in
from settings import load_settings
from tests.conftest import notices
from tests.console import warehouse_fixture as fx
from tests.console.test_work_pages import ops_time, record_link

TODAY = date(2026, 12, 1)


def queue_rows(at) -> dict:
    return at.dataframe[1].value.set_index("Invoice id").to_dict("index")


def save_as(store, agent: str, invoice_id: str, customer_id: str, **changes) -> WorkState:
    read = work_state.state_of(store, invoice_id, customer_id)
    changed = WorkState(invoice_id, customer_id, **{"assignee": read.assignee, "note": read.note, **changes})
    return work_state.save(store, agent, read, changed)


# --- the rule and the store ---------------------------------------------------------------


def test_filters_mine_unassigned_snoozed_all():
    mine = WorkState("in_1", "cus_1", assignee="sam", status="contacted")
    free = WorkState("in_2", "cus_1")
    snoozed = WorkState("in_3", "cus_1", assignee="sam", status="snoozed", snoozed_until=TODAY + timedelta(1))
    woke = WorkState("in_4", "cus_1", status="snoozed", snoozed_until=TODAY)  # its day came: back
    done = WorkState("in_5", "cus_1", assignee="sam", status="done")
    shown = {
        f: [s.invoice_id for s in (mine, free, snoozed, woke, done) if shown_in(f, s, "sam", TODAY)]
        for f in ("mine", "unassigned", "snoozed", "all")
    }
    assert shown == {
        "mine": ["in_1"],
        "unassigned": ["in_2", "in_4"],
        "snoozed": ["in_3"],
        "all": ["in_1", "in_2", "in_4", "in_5"],
    }
    assert snoozed.text(TODAY) == "snoozed until 2026-12-02 · sam" and woke.text(TODAY) == "snooze ended"


def ops_store():
    return ops.store_for(load_settings().ops_db)


def test_a_stale_save_is_refused_and_says_who_changed_it(ops_backend: str):
    store = ops_store()
    read_by_ann = work_state.state_of(store, "in_1", "cus_1")
    read_by_bob = work_state.state_of(store, "in_1", "cus_1")
    work_state.save(store, "ann", read_by_ann, WorkState("in_1", "cus_1", "ann", "contacted", note="called"))
    with pytest.raises(work_state.WorkConflict, match=r"ann changed this item at .* UTC") as lost:
        work_state.save(store, "bob", read_by_bob, WorkState("in_1", "cus_1", "bob", "done"))
    assert (lost.value.current.assignee, lost.value.current.note) == ("ann", "called")
    again = work_state.state_of(store, "in_1", "cus_1")  # bob reloads, then saves over version 1
    saved = work_state.save(store, "bob", again, WorkState("in_1", "cus_1", "bob", "done", note="called"))
    assert saved.version == 2
    log = work_state.log_of(store, invoice_id="in_1")
    assert log["agent"].tolist() == ["bob", "ann"] and log["version"].tolist() == [2, 1]
    with store.connect() as conn, pytest.raises(IntegrityError, match="append-only"):
        conn.execute("DELETE FROM work_log")


@pytest.mark.parametrize("existing", [False, True], ids=["first save", "later save"])
def test_concurrent_saves_one_wins_the_others_are_told(ops_backend: str, existing: bool):
    """Eight threads, each on its own connection, save over the same version at once."""
    store = ops_store()
    if existing:
        save_as(store, "setup", "in_1", "cus_1", status="new")
    read = work_state.state_of(store, "in_1", "cus_1")
    start, outcomes = threading.Barrier(8), []

    def agent(n: int) -> None:
        start.wait()
        try:
            work_state.save(store, f"agent{n}", read, WorkState("in_1", "cus_1", f"agent{n}", "contacted"))
            outcomes.append(("saved", n))
        except work_state.WorkConflict as conflict:
            outcomes.append(("told", conflict.current.updated_by))

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for kind, n in outcomes if kind == "saved"]
    assert len(winners) == 1 and len(outcomes) == 8
    assert {who for kind, who in outcomes if kind == "told"} == {f"agent{winners[0]}"}
    final = work_state.state_of(store, "in_1", "cus_1")
    assert final.assignee == f"agent{winners[0]}" and final.version == read.version + 1
    assert len(work_state.log_of(store, invoice_id="in_1")) == read.version + 1


# --- the pages --------------------------------------------------------------------------


def set_form(at, invoice_id: str, *, assignee=None, status=None, note=None):
    """Fill the work-state form of `invoice_id`; returns its submit button."""

    def in_form(widgets, label):
        return next(w for w in widgets if w.label == label and invoice_id in w.form_id)

    if assignee is not None:
        in_form(at.selectbox, "Assignee").set_value(assignee)
    if status is not None:
        in_form(at.selectbox, "Status").set_value(status)
    if note is not None:
        in_form(at.text_area, "Note").set_value(note)
    return in_form(at.button, "Save work state")


def test_work_state_survives_a_sync_and_a_paid_invoice_moves_to_history_with_its_outcome(
    warehouse, open_page, console_env
):
    ops_db = Path(console_env["OPS_DB"])
    at = open_page("support", "customer", id=fx.JOSE)
    set_form(
        at, fx.JOSE_OPEN_INVOICE, assignee="sam", status="contacted", note="rang, card on its way"
    ).click()
    at.run()
    assert not at.exception
    assert any(t.value.startswith("contacted · sam (saved by sam") for t in at.main.text)
    store = ops.store_for(ops_db)
    save_as(store, "sam", fx.BIGRISK_OPEN_INVOICE, fx.BIGRISK, assignee="sam", status="waiting_on_customer")
    # A sync publishes a new snapshot: nothing changed for these invoices; the state is kept.
    fx.publish_change(warehouse, "UPDATE customers SET name = name")
    queue = queue_rows(open_page("support", "dunning_queue", work="mine"))
    assert set(queue) == {fx.JOSE_OPEN_INVOICE, fx.BIGRISK_OPEN_INVOICE}
    assert queue[fx.JOSE_OPEN_INVOICE]["Work state"] == "contacted · sam"
    assert queue[fx.JOSE_OPEN_INVOICE]["Note"] == "rang, card on its way"
    # The customer pays two days after a card-update link; the next sync resolves the item.
    link_made = fx.utc_now() - timedelta(days=3)
    record_link(ops_db, fx.JOSE, link_made.strftime("%Y-%m-%dT%H:%M:%SZ"))
    fx.publish_change(
        warehouse,
        (
            "UPDATE invoices SET status = 'paid', amount_paid = amount_due, amount_remaining = 0, "
            "paid_at = ? WHERE id = ?",
            [link_made + timedelta(days=2, hours=1), fx.JOSE_OPEN_INVOICE],
        ),
    )
    queue_page = open_page("support", "dunning_queue", work="mine")
    assert set(queue_rows(queue_page)) == {fx.BIGRISK_OPEN_INVOICE}
    history = open_page("support", "dunning_queue", view="history").dataframe[0].value
    jose = history[history["Invoice"] == fx.JOSE_OPEN_NUMBER].iloc[0]
    assert jose["Outcome"] == "paid 2 days after a card-update link"
    assert (jose["Work state"], jose["Note"]) == ("contacted · sam", "rang, card on its way")


def test_two_agents_on_one_item_the_second_is_told_and_nothing_is_lost(warehouse, app_as, open_page):
    first = open_page("support", "customer", id=fx.ZOE)
    second = open_page("admin", "customer", id=fx.ZOE)  # both forms drawn from version 0
    set_form(first, "in_ZoeOpen1", assignee="sam", status="contacted", note="sam's note").click()
    first.run()
    set_form(second, "in_ZoeOpen1", status="done", note="ada's note").click()
    second.run()
    assert not second.exception
    told = notices(second, "error")
    assert told and "sam changed this item at" in told[0] and "Reload" in told[0]
    saved = work_state.state_of(ops.store_for(Path(load_ops_db())), "in_ZoeOpen1", fx.ZOE)
    assert (saved.assignee, saved.status, saved.note) == ("sam", "contacted", "sam's note")
    next(b for b in second.button if b.label == "Reload").click()
    second.run()
    assert any(t.value.startswith("contacted · sam") for t in second.main.text)
    assert not notices(second, "error")


def load_ops_db() -> str:
    from settings import load_settings

    return str(load_settings().ops_db)


def test_queue_filters_come_from_the_address(warehouse, open_page, console_env):
    store = ops.store_for(Path(console_env["OPS_DB"]))
    save_as(store, "ada", "in_ZoeOpen1", fx.ZOE, assignee="ada", status="contacted")
    until = datetime.now(UTC).date() + timedelta(days=2)
    save_as(store, "sam", "in_TanakaOpen1", fx.TANAKA, status="snoozed", snoozed_until=until)
    unassigned = open_page("support", "dunning_queue", work="unassigned")
    assert set(queue_rows(unassigned)) == {fx.JOSE_OPEN_INVOICE, fx.BIGRISK_OPEN_INVOICE}
    snoozed = open_page("support", "dunning_queue", work="snoozed")
    assert set(queue_rows(snoozed)) == {"in_TanakaOpen1"}
    everything = open_page("support", "dunning_queue", currency="eur")
    assert set(queue_rows(everything)) == {"in_ZoeOpen1"}
    assert everything.query_params.get("currency") == "eur"


def test_a_second_email_within_a_day_is_warned_of(warehouse, open_page, console_env):
    record_link(Path(console_env["OPS_DB"]), fx.JOSE, ops_time(90))  # emailed by sam 90 minutes ago
    at = open_page("support", "customer", id=fx.JOSE)
    warned = [n for n in notices(at, "warning") if "already emailed" in n]
    assert warned and warned[0].startswith("sam already emailed this customer a portal link at ")
    assert "about 2 hour(s) ago" in warned[0]
    quiet = open_page("support", "customer", id=fx.BIGRISK)
    assert not [n for n in notices(quiet, "warning") if "already emailed" in n]
