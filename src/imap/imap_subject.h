/* imap_subject.h — the base subject of RFC 5256 2.1, which SORT SUBJECT
 * and THREAD (ORDEREDSUBJECT, and REFERENCES' subject grouping) compare.
 *
 * Design. The raw Subject value is unfolded and RFC 2047-decoded to UTF-8
 * (mail/mime_header.h), whitespace runs become one space (step 1), and
 * steps 2-6 strip what deployed mail software adds: trailing "(fwd)" and
 * whitespace, leading "Re:", "Fw:", "Fwd:" (with optional "[blob]"s),
 * leading "[list-tags]" that do not leave the subject empty, and a
 * "[Fwd: ...]" wrapper, repeated until nothing changes. The RFC says
 * servers MUST use exactly this algorithm, so its ABNF is followed to the
 * letter (only ASCII "re"/"fw"/"fwd", any case). The comparison key is the
 * base subject case-folded (mail/text_match.h folding: i;unicode-casemap
 * in spirit, as Dovecot compares). */
#ifndef SEALPOST_IMAP_SUBJECT_H
#define SEALPOST_IMAP_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

/* The base subject of the Subject header value (raw, possibly folded and
 * encoded; NULL or empty: ""), as a new string. *is_reply_r (may be NULL)
 * tells whether extraction removed a subj-refwd, a "(fwd)" trailer or a
 * "[fwd: ]" wrapper: RFC 5256 4's "reply or forward". */
char *imap_base_subject(const char *value, size_t len, bool *is_reply_r);

/* The comparison key of a base subject (case-folded), a new string. */
char *imap_subject_key(const char *base);

#endif
