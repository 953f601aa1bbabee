/* imap_date.c — IMAP and RFC 5322 date parsing and formatting. */
#include "imap/imap_date.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char month_names[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y_r, unsigned *m_r, unsigned *d_r)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	*y_r = (int64_t)yoe + era * 400 + (m <= 2);
	*m_r = m;
	*d_r = d;
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool valid_day(int64_t y, unsigned m, unsigned d)
{
	static const unsigned mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap(y));
}

int64_t imap_day(time_t t, int tz)
{
	int64_t s = (int64_t)t + (int64_t)tz * 60;
	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

/* Month number (1-12) of a 3-letter name at s, any case; 0 if none. */
static unsigned month_parse(const char *s)
{
	for (unsigned i = 0; i < 12; i++) {
		if (strncasecmp(s, month_names[i], 3) == 0)
			return i + 1;
	}
	return 0;
}

/* Up to max digits at *sp (at least min); advances *sp. */
static bool digits(const char **sp, unsigned min, unsigned max, unsigned *v_r)
{
	const char *s = *sp;
	unsigned v = 0, n = 0;
	while (n < max && isdigit((unsigned char)s[n])) {
		v = v * 10 + (unsigned)(s[n] - '0');
		n++;
	}
	if (n < min)
		return false;
	*sp = s + n;
	*v_r = v;
	return true;
}

/* "d-Mon-yyyy" at *sp; advances *sp. */
static bool date_text(const char **sp, int64_t *day_r)
{
	const char *s = *sp;
	unsigned d, m, y;

	if (*s == ' ')
		s++;
	if (!digits(&s, 1, 2, &d) || *s++ != '-')
		return false;
	m = month_parse(s);
	if (m == 0)
		return false;
	s += 3;
	if (*s++ != '-' || !digits(&s, 4, 4, &y) || !valid_day(y, m, d))
		return false;
	*day_r = days_from_civil(y, m, d);
	*sp = s;
	return true;
}

bool imap_date_parse(const char *s, time_t *t_r)
{
	int64_t day;
	if (*s == ' ' || !date_text(&s, &day) || *s != '\0')
		return false;
	*t_r = (time_t)(day * 86400);
	return true;
}

/* "+hhmm" / "-hhmm" at *sp. */
static bool numeric_zone(const char **sp, int *tz_r)
{
	const char *s = *sp;
	unsigned v;
	if (*s != '+' && *s != '-')
		return false;
	int sign = *s++ == '-' ? -1 : 1;
	if (!digits(&s, 4, 4, &v) || v % 100 > 59)
		return false;
	*tz_r = sign * (int)(v / 100 * 60 + v % 100);
	*sp = s;
	return true;
}

bool imap_datetime_parse(const char *s, time_t *t_r, int *tz_r)
{
	int64_t day;
	unsigned h, mi, se;
	int tz;

	if (!date_text(&s, &day) || *s++ != ' ')
		return false;
	if (!digits(&s, 2, 2, &h) || *s++ != ':' || !digits(&s, 2, 2, &mi) ||
	    *s++ != ':' || !digits(&s, 2, 2, &se) || *s++ != ' ')
		return false;
	if (h > 23 || mi > 59 || se > 60 || !numeric_zone(&s, &tz) || *s != '\0')
		return false;
	*t_r = (time_t)(day * 86400 + h * 3600 + mi * 60 + se - (int64_t)tz * 60);
	*tz_r = tz;
	return true;
}

void imap_datetime_format(time_t t, int tz, char *out)
{
	int64_t local = (int64_t)t + (int64_t)tz * 60;
	int64_t day = imap_day(t, tz), y;
	int64_t secs = local - day * 86400;
	unsigned m, d;
	unsigned atz = (unsigned)(tz < 0 ? -tz : tz);

	civil_from_days(day, &y, &m, &d);
	if (y < 0 || y > 9999 || atz > IMAP_TZ_MAX_MINUTES) {
		/* Unrepresentable: fall back to the epoch rather than overflow. */
		snprintf(out, IMAP_DATETIME_LEN + 1, "01-Jan-1970 00:00:00 +0000");
		return;
	}
	snprintf(out, IMAP_DATETIME_LEN + 1, "%02u-%s-%04u %02u:%02u:%02u %c%02u%02u",
		 d, month_names[m - 1], (unsigned)y, (unsigned)(secs / 3600),
		 (unsigned)(secs / 60 % 60), (unsigned)(secs % 60),
		 tz < 0 ? '-' : '+', atz / 60, atz % 60);
}

/* Longest Date: value we look at; real ones are ~40 bytes. */
#define MAIL_DATE_MAX 256

/* Copy s without comments (nested parentheses), folding whitespace. */
static bool strip_comments(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;
	unsigned depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\\' && depth > 0 && i + 1 < len) {
			i++;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0) {
			if (c == '\t' || c == '\r' || c == '\n')
				c = ' ';
			if (n + 1 >= size)
				return false;
			out[n++] = c;
		}
	}
	out[n] = '\0';
	return true;
}

static void skip_ws(const char **sp)
{
	while (**sp == ' ')
		(*sp)++;
}

/* RFC 5322 4.3 obs-zone names; military letters mean "unknown", -0000. */
static bool named_zone(const char **sp, int *tz_r)
{
	static const struct {
		const char *name;
		int tz;
	} zones[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
		{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
	};
	const char *s = *sp;
	size_t n = 0;
	while (isalpha((unsigned char)s[n]))
		n++;
	if (n == 0)
		return false;
	*tz_r = 0;
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (strlen(zones[i].name) == n && strncasecmp(s, zones[i].name, n) == 0)
			*tz_r = zones[i].tz;
	}
	*sp = s + n;
	return true;
}

/* [day-of-week ","] day month year: the calendar part of a Date: value. */
static bool mail_date_day(const char **sp, int64_t *day_r)
{
	const char *s = *sp;
	unsigned d, m, y;

	skip_ws(&s);
	if (isalpha((unsigned char)*s)) {
		while (isalpha((unsigned char)*s))
			s++;
		skip_ws(&s);
		if (*s == ',')
			s++;
		skip_ws(&s);
	}
	if (!digits(&s, 1, 2, &d))
		return false;
	skip_ws(&s);
	if (*s == '-')
		s++;
	if ((m = month_parse(s)) == 0)
		return false;
	while (isalpha((unsigned char)*s))
		s++;
	skip_ws(&s);
	if (*s == '-')
		s++;
	const char *year = s;
	if (!digits(&s, 2, 4, &y))
		return false;
	if (s - year == 2)          /* obs-year, RFC 5322 4.3 */
		y += y < 50 ? 2000 : 1900;
	else if (s - year == 3)
		y += 1900;
	if (!valid_day(y, m, d))
		return false;
	*day_r = days_from_civil(y, m, d);
	*sp = s;
	return true;
}

bool imap_mail_date_parse(const char *str, size_t len, time_t *t_r, int *tz_r)
{
	char clean[MAIL_DATE_MAX];
	const char *s = clean;
	int64_t day;
	unsigned h, mi, se = 0;
	int tz = 0;

	if (len >= MAIL_DATE_MAX || !strip_comments(str, len, clean, sizeof(clean)))
		return false;
	if (!mail_date_day(&s, &day))
		return false;
	skip_ws(&s);
	if (!digits(&s, 1, 2, &h) || *s++ != ':' || !digits(&s, 2, 2, &mi))
		return false;
	if (*s == ':') {
		s++;
		if (!digits(&s, 2, 2, &se))
			return false;
	}
	if (h > 23 || mi > 59 || se > 60)
		return false;
	skip_ws(&s);
	if (*s != '\0' && !numeric_zone(&s, &tz) && !named_zone(&s, &tz))
		return false;
	*t_r = (time_t)(day * 86400 + h * 3600 + mi * 60 + se - (int64_t)tz * 60);
	*tz_r = tz;
	return true;
}
