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
# For the worklists (starter/worklists.py), published since the `publish-worklist-attributes`
# patch: since when the party in OdbWaitingFor waits; the hearings an open appeal still
# misses ("provider,department", "provider", "department" or "none"); the last day of an
# open appeal's 60-day BEC deadline (YYYY-MM-DD, kept when overdue); whether an open
# appeal has no motivation document.
WAITING_SINCE = SearchAttributeKey.for_datetime("OdbWaitingSince")
MISSING_HEARINGS = SearchAttributeKey.for_keyword("OdbMissingHearings")
BEC_DUE_ON = SearchAttributeKey.for_keyword("OdbBecDueOn")
APPEAL_WITHOUT_DOCUMENT = SearchAttributeKey.for_bool("OdbAppealWithoutDocument")

WORKLIST = (WAITING_SINCE, MISSING_HEARINGS, BEC_DUE_ON, APPEAL_WITHOUT_DOCUMENT)

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
    *WORKLIST,
)
