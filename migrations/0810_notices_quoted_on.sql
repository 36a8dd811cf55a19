-- The day whose dates an e-mail's text quoted (its appeal deadline, its removal date run from
-- the day it was sent). A notice is rendered just before SMTP; when the server accepts it on a
-- later Brussels day (a slow reply at midnight, an attempt that may have delivered before a
-- retry), the case keeps the dates of the acceptance day and a correction (kind
-- 'notice_corrected') goes out. quoted_on keeps the earliest day of any text that may have
-- reached the provider, so a correction is owed exactly when that text said otherwise.
-- Forward-only; NULL for rows sent before (and for notices whose text has no such date).
ALTER TABLE notifications ADD COLUMN quoted_on date;
