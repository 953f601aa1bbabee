/* imap_date.h — IMAP date/date-time (RFC 3501 9) and RFC 5322 Date: fields.
 *
 * Design. Times are time_t (UTC instants) plus a zone offset in minutes east
 * of UTC where the zone matters. SEARCH compares calendar days "disregarding
 * time and timezone" (RFC 3501 6.4.4): imap_day() gives the day number
 * (days since 1970-01-01) of an instant in its own zone, and imap_date_parse
 * returns the instant of midnight UTC of the given day, so
 * imap_day(t, 0) is its day number. Calendar arithmetic is proleptic
 * Gregorian and independent of the process time zone (no TZ, no locale). */
#ifndef SEALPOST_IMAP_DATE_H
#define SEALPOST_IMAP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* "17-Jul-1996 02:44:25 -0700" */
#define IMAP_DATETIME_LEN 26
/* Zone offsets are at most +-99:59 (RFC 5322 3.3 zone = 4DIGIT). */
#define IMAP_TZ_MAX_MINUTES (99 * 60 + 59)

/* date = date-text / DQUOTE date-text DQUOTE; "1-Feb-1994" (the quotes are
 * already removed by the command parser when it was a quoted string). */
bool imap_date_parse(const char *s, time_t *t_r);
/* date-time "17-Jul-1996 02:44:25 -0700" (day may be " 7", "7" or "07"). */
bool imap_datetime_parse(const char *s, time_t *t_r, int *tz_r);
/* Format t in zone tz (minutes east of UTC) as a date-time, without the
 * quotes, into out (IMAP_DATETIME_LEN + 1 bytes). */
void imap_datetime_format(time_t t, int tz, char *out);
/* RFC 5322 3.3 date-time of a Date: field, with the obsolete forms of 4.3
 * (2-digit years, named zones, missing seconds) and comments. */
bool imap_mail_date_parse(const char *s, size_t len, time_t *t_r, int *tz_r);
/* Day number (days since 1970-01-01) of instant t seen in zone tz. */
int64_t imap_day(time_t t, int tz);

#endif
