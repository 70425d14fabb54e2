from tests.portal.conftest import (  # noqa: F401 (fixtures shared with the portal tests)
    portal_account,
    portal_sandbox,
    portal_warehouse_file,
    settings_with,
    stripe_settings,
)
