/* imap_match.h — the mailbox patterns of LIST and LSUB (RFC 3501 6.3.8).
 *
 * The reference and the mailbox argument are joined into one pattern (the
 * reference is a prefix; we have no namespaces that would need more).
 * '*' matches any run of characters, '%' any run without the hierarchy
 * separator. INBOX is case-insensitive (RFC 3501 5.1): when a name's first
 * level is "INBOX", those five characters match in any case, so "inbox",
 * "In%" and "inbox/%" all find it. Matching runs in O(pattern x name) time
 * with wildcard runs collapsed, so "*a*a*a*...b" cannot blow up. */
#ifndef SEALPOST_IMAP_MATCH_H
#define SEALPOST_IMAP_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest name matched: ours are at most MAILDIR_NAME_MAX (200) bytes;
 * anything longer is not a mailbox name of ours and never matches. */
#define IMAP_MATCH_NAME_MAX 1024

struct imap_pattern {
	char *text;          /* reference + mailbox, wildcard runs collapsed */
	size_t literals;     /* bytes that are not wildcards */
	char sep;
};

/* Build the pattern of reference + mailbox with hierarchy separator sep.
 * Free with imap_pattern_free(). */
void imap_pattern_init(struct imap_pattern *p, const char *reference,
		       const char *mailbox, char sep);
void imap_pattern_free(struct imap_pattern *p);
/* Does name match the whole pattern? */
bool imap_pattern_match(const struct imap_pattern *p, const char *name);
/* Does the pattern end with '%' (LSUB then also returns the unsubscribed
 * parents of subscribed names, RFC 3501 6.3.9)? */
bool imap_pattern_ends_with_percent(const struct imap_pattern *p);

#endif
