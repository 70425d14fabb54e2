"""Staff: the roles and what each may open (`roles`), the users file (`accounts`), and the
sign-in cookie's key (`cookie_key`). No Streamlit here: the command-line tools use it."""
