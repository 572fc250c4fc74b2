"""The mail port: sending one email, with an SMTP adapter (SMTP_URL), a console adapter for
local runs and a fake for tests."""

from __future__ import annotations
