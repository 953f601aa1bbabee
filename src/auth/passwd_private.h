/* passwd_private.h — line handling shared by passwd.c and passwd_file.c. */
#ifndef SEALPOST_PASSWD_PRIVATE_H
#define SEALPOST_PASSWD_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

/* The next line of [*pos, end), without its '\n' (a '\r' before it stays);
 * advances *pos. False when no line is left. */
bool passwd_line_next(const char **pos, const char *end, const char **line_r,
		      size_t *len_r);

/* Length of line without the '\r's that end it (a CRLF file, and any
 * stray CR before the line end). */
size_t passwd_line_trim_cr(const char *line, size_t len);

/* A blank line or a '#' comment (after optional blanks)? */
bool passwd_line_is_comment(const char *line, size_t len);

/* The user field of a line that is not a comment: its length up to the
 * first ':' (or the whole line when it has none). */
size_t passwd_line_user_len(const char *line, size_t len);

#endif
