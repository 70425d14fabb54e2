"""The work-state form of an invoice in dunning, on the dunning queue and the customer page.

The form saves over the state it was drawn from, which this browser session keeps until the
save succeeds or the agent reloads: re-reading the store on the submitting rerun would take
another agent's save as the starting point and overwrite it unseen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from console import ops
from console.ops import work_state
from console.rules.work import STATUS_TEXT, STATUSES, WorkState
from console.staff.accounts import StaffError, list_accounts
from console.staff.roles import StaffUser, can_open
from console.ui.widgets import notice
from settings import Settings


def _read_key(invoice_id: str) -> str:
    return f"work_read_{invoice_id}"


def _conflict_key(invoice_id: str) -> str:
    return f"work_conflict_{invoice_id}"


def _assignees(settings: Settings, staff: StaffUser, current: str | None) -> list[str | None]:
    """Unassigned, me, then the staff who can work the queue (and whoever holds the item now)."""
    try:
        others = [a.username for a in list_accounts(settings.users_file) if can_open(a.role, "dunning_queue")]
    except StaffError:
        others = []
    names = [None, staff.username, *others, *([current] if current else [])]
    return list(dict.fromkeys(names))


def render_work_state_form(settings: Settings, staff: StaffUser, invoice_id: str, customer_id: str) -> None:
    """The item's state, who saved it last, and (for roles that work the queue) a form to change it."""
    store = ops.store_for(settings.ops_db)
    key = _read_key(invoice_id)
    if key not in st.session_state:
        st.session_state[key] = work_state.state_of(store, invoice_id, customer_id)
    read: WorkState = st.session_state[key]
    today = datetime.now(UTC).date()
    saved_by = (
        f" (saved by {read.updated_by}, {read.updated_at:%Y-%m-%d %H:%M} UTC)" if read.updated_at else ""
    )
    st.caption("Work state")
    st.text(read.text(today) + saved_by)
    if read.note:
        st.text(f"Note: {read.note}")
    if not can_open(staff.role, "dunning_queue"):
        return
    conflict = st.session_state.get(_conflict_key(invoice_id))
    if conflict:
        notice("error", conflict)
    if st.button("Reload", key=f"work_reload_{invoice_id}", icon=":material/refresh:"):
        forget_read_states([invoice_id])
        st.rerun()
    with st.form(f"work_form_{invoice_id}_{read.version}", border=True):
        people = _assignees(settings, staff, read.assignee)
        left, middle, right = st.columns(3)
        assignee = left.selectbox(
            "Assignee", people, index=people.index(read.assignee), format_func=lambda a: a or "Unassigned"
        )
        status = middle.selectbox(
            "Status", STATUSES, index=STATUSES.index(read.status), format_func=STATUS_TEXT.__getitem__
        )
        until = right.date_input(
            "Snoozed until (if snoozed)",
            value=read.snoozed_until if read.is_snoozed(today) else today + timedelta(days=3),
            min_value=today + timedelta(days=1),
        )
        note = st.text_area("Note", value=read.note, max_chars=2000)
        submitted = st.form_submit_button("Save work state", icon=":material/save:")
    if submitted:
        changed = WorkState(invoice_id, customer_id, assignee, status, until, note)
        try:
            st.session_state[key] = work_state.save(store, staff.username, read, changed)
        except work_state.WorkConflict as lost:
            # Kept until the agent reloads: the form still shows what they typed over the old state.
            st.session_state[_conflict_key(invoice_id)] = str(lost)
        else:
            st.session_state.pop(_conflict_key(invoice_id), None)
        st.rerun()


def forget_read_states(invoice_ids: list[str]) -> None:
    """Drop the kept states of these items, so the next form starts from the store (a fresh page)."""
    for invoice_id in invoice_ids:
        st.session_state.pop(_read_key(invoice_id), None)
        st.session_state.pop(_conflict_key(invoice_id), None)
