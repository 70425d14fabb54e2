"""End-to-end tests reuse the portal tests' sandbox account, synced warehouse and SMTP server."""

from tests.portal.conftest import (  # noqa: F401 (fixtures, registered by being imported here)
    live,
    portal_account,
    portal_sandbox,
    portal_warehouse_file,
    settings_with,
    smtp,
    stripe_settings,
)
