"""The custom search attributes every case publishes for ops (Temporal Web UI filters).

The names and types here must match `temporal.search_attributes` in temporal-dev.yaml,
which registers them on the dev server; a test keeps the two equal.
"""

from temporalio.common import SearchAttributeKey

STATE = SearchAttributeKey.for_keyword("OdbState")
COMPETENT_BODY = SearchAttributeKey.for_keyword("OdbCompetentBody")
PROVIDER = SearchAttributeKey.for_keyword("OdbProvider")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("OdbNextDeadline")
NEXT_DEADLINE_KIND = SearchAttributeKey.for_keyword("OdbNextDeadlineKind")
OVERDUE = SearchAttributeKey.for_bool("OdbOverdue")
REMOVAL_ON = SearchAttributeKey.for_datetime("OdbRemovalOn")
END_REASON = SearchAttributeKey.for_keyword("OdbEndReason")
WAITING_FOR = SearchAttributeKey.for_keyword("OdbWaitingFor")
SCREENED_YEAR = SearchAttributeKey.for_int("OdbScreenedYear")

ALL = (
    STATE,
    COMPETENT_BODY,
    PROVIDER,
    NEXT_DEADLINE,
    NEXT_DEADLINE_KIND,
    OVERDUE,
    REMOVAL_ON,
    END_REASON,
    WAITING_FOR,
    SCREENED_YEAR,
)
