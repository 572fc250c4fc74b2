"""Acting on risk alerts and escalations from the console: lists with filters, and acknowledging,
resolving, taking and closing by a signed-in person.
"""

from __future__ import annotations
