/* queue_dsn.c — delivery status notifications (RFC 3464) for bounced
 * recipients: a multipart/report (RFC 6522) with a human-readable part,
 * the message/delivery-status part and the original header block
 * (text/rfc822-headers). */
#include "queue/queue_dsn.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* RFC 5322 3.3 date-time in the C locale's English names. */
static void rfc5322_date(time_t t, char *out, size_t size)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
					      "Jun", "Jul", "Aug", "Sep", "Oct",
					      "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void queue_reply_status(const char *reply, char out[QUEUE_STATUS_SIZE])
{
	const char *p = reply;
	unsigned cls = 0, subj = 0, det = 0;
	int n = 0;

	/* "550 5.1.1 text" or "550-5.1.1 text": RFC 3463 class.subject.detail */
	if (strlen(p) >= 4 && isdigit((unsigned char)p[0]) && (p[3] == ' ' || p[3] == '-') &&
	    sscanf(p + 4, "%1u.%3u.%3u%n", &cls, &subj, &det, &n) == 3 &&
	    (cls == 2 || cls == 4 || cls == 5) && (unsigned)(p[0] - '0') == cls &&
	    (p[4 + n] == ' ' || p[4 + n] == '\0')) {
		snprintf(out, QUEUE_STATUS_SIZE, "%u.%u.%u", cls, subj, det);
		return;
	}
	snprintf(out, QUEUE_STATUS_SIZE, "%c.0.0",
		 p[0] == '2' || p[0] == '4' || p[0] == '5' ? p[0] : '5');
}

/* The header block of the original message (up to the blank line), at
 * most QUEUE_DSN_HEADERS_MAX bytes, cut at a line end. */
static size_t header_block(const char *data, size_t len)
{
	size_t n = len < QUEUE_DSN_HEADERS_MAX ? len : QUEUE_DSN_HEADERS_MAX;

	if (n == 0 || data[0] == '\n' || (n > 1 && data[0] == '\r' && data[1] == '\n'))
		return 0;
	for (size_t i = 0; i + 1 < n; i++) {
		if (data[i] != '\n')
			continue;
		if (data[i + 1] == '\n' ||
		    (data[i + 1] == '\r' && i + 2 < n && data[i + 2] == '\n'))
			return i + 1;
	}
	const char *last = memrchr(data, '\n', n);
	return last != NULL ? (size_t)(last - data) + 1 : 0;
}

static void human_part(struct buf *b, const struct queue_dsn *dsn)
{
	buf_printf(b, "This is the mail system at host %s.\r\n\r\n",
		   dsn->reporting_mta);
	buf_printf(b, "I'm sorry to have to inform you that your message could not\r\n"
		   "be delivered to one or more recipients. %s\r\n\r\n",
		   dsn->expired ? "It stayed in the queue for longer than the\r\n"
		   "time allowed (queue_lifetime)." :
		   "It's attached below.");
	buf_printf(b, "The mail system\r\n\r\n");
	for (size_t i = 0; i < dsn->n; i++) {
		const struct queue_dsn_rcpt *r = &dsn->rcpts[i];
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0')
			buf_printf(b, "<%s>: host %s said: %s\r\n\r\n", r->address,
				   r->remote_mta, r->diagnostic);
		else
			buf_printf(b, "<%s>: %s\r\n\r\n", r->address, r->diagnostic);
	}
}

static void status_part(struct buf *b, const struct queue_dsn *dsn)
{
	char date[64];

	buf_printf(b, "Reporting-MTA: dns; %s\r\nX-Sealpost-Queue-ID: %s\r\n",
		   dsn->reporting_mta, dsn->queue_id);
	if (dsn->sender[0] != '\0')
		buf_printf(b, "X-Sealpost-Sender: rfc822; %s\r\n", dsn->sender);
	rfc5322_date(dsn->arrival, date, sizeof(date));
	buf_printf(b, "Arrival-Date: %s\r\n", date);
	for (size_t i = 0; i < dsn->n; i++) {
		const struct queue_dsn_rcpt *r = &dsn->rcpts[i];
		rfc5322_date(r->last_attempt, date, sizeof(date));
		buf_printf(b, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\n"
			   "Status: %s\r\n", r->address, r->status);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0')
			buf_printf(b, "Remote-MTA: dns; %s\r\n"
				   "Diagnostic-Code: smtp; %s\r\n", r->remote_mta,
				   r->diagnostic);
		else
			buf_printf(b, "Diagnostic-Code: X-Sealpost; %s\r\n",
				   r->diagnostic);
		buf_printf(b, "Last-Attempt-Date: %s\r\n", date);
	}
}

void queue_dsn_build(const struct queue_dsn *dsn, struct buf *out,
		     uint64_t *offset_r)
{
	char date[64], boundary[64];
	size_t hlen = header_block(dsn->message, dsn->message_len);

	buf_printf(out, "Return-Path: <>\r\n");
	*offset_r = out->len;
	rfc5322_date(dsn->now, date, sizeof(date));
	snprintf(boundary, sizeof(boundary), "%s/%lld/%s", dsn->queue_id,
		 (long long)dsn->now, dsn->reporting_mta);
	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
		   "To: <%s>\r\n"
		   "Subject: Undelivered Mail Returned to Sender\r\n"
		   "Date: %s\r\n"
		   "Message-ID: <%s.dsn@%s>\r\n"
		   "Auto-Submitted: auto-replied\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n\r\n"
		   "This is a MIME-encapsulated message.\r\n\r\n",
		   dsn->reporting_mta, dsn->sender, date, dsn->dsn_id,
		   dsn->reporting_mta, boundary);
	buf_printf(out, "--%s\r\nContent-Description: Notification\r\n"
		   "Content-Type: text/plain; charset=utf-8\r\n\r\n", boundary);
	human_part(out, dsn);
	buf_printf(out, "--%s\r\nContent-Description: Delivery report\r\n"
		   "Content-Type: message/delivery-status\r\n\r\n", boundary);
	status_part(out, dsn);
	buf_printf(out, "\r\n--%s\r\nContent-Description: Undelivered Message Headers\r\n"
		   "Content-Type: text/rfc822-headers\r\n\r\n", boundary);
	buf_append(out, dsn->message, hlen);
	if (hlen > 0 && dsn->message[hlen - 1] != '\n')
		buf_printf(out, "\r\n");
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}
