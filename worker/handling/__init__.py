"""Officers' handling of review items: assignment, internal notes, queue filters, presence."""
