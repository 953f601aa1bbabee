/* imap_parser.h — incremental IMAP4rev1 command parser (RFC 3501 9,
 * LITERAL+ RFC 7888).
 *
 * Design. The session core reads CRLF-terminated lines (it enforces
 * IMAP_LINE_MAX) and feeds them here; the parser never does I/O. A command
 * is "tag SP name [SP arguments]" and may span several lines when it holds
 * literals. The parser turns it into a tree of struct imap_arg. Parsing is
 * syntactic: atoms are accepted permissively (they may hold "%", "*", "]",
 * a leading "\" and a "[...]" section such as BODY[HEADER.FIELDS (A B)]<0.9>),
 * and the command handlers check each argument's form with the accessors
 * below and the helpers in imap_seqset.h, imap_fetch_attr.h, imap_search.h.
 *
 * A literal8 "~{N}" or "~{N+}" (BINARY, RFC 3516 4.3) is accepted where
 * a literal is streamed (an APPEND message) and refused elsewhere.
 *
 * Driving the parser (the session core, per command):
 *
 *	r = imap_parser_feed_line(p, line, len);
 *	while (r == IMAP_PARSE_NEED_LITERAL) {
 *		imap_parser_literal(p, &lit);
 *		if (lit.sync)
 *			send "+ OK\r\n" and flush;
 *		read exactly lit.size raw bytes:
 *		  - lit.stream (an APPEND message, up to the caller's limit):
 *		    write them to the caller's own sink (temp file), then call
 *		    imap_parser_literal_done(p);
 *		  - lit.discard (the command already failed): drop them, then
 *		    imap_parser_literal_done(p) (or feed them; they are ignored);
 *		  - otherwise: imap_parser_feed_literal(p, chunk, n) for every
 *		    chunk (the parser buffers it, at most IMAP_LITERAL_MAX;
 *		    a zero-length literal needs no call);
 *		r = imap_parser_feed_line(p, next line, len);
 *	}
 *	if (r == IMAP_PARSE_COMPLETE)
 *		dispatch imap_parser_command(p);
 *	else (IMAP_PARSE_ERROR)
 *		e = imap_parser_error(p); reply "<tag or *> BAD <e->text>"
 *		(or "<tag> NO [TOOBIG] <text>" when e->toobig);
 *		if e->disconnect: send "* BYE" and close (unframeable input).
 *
 * A synchronising literal that is refused is refused before "+" is sent, so
 * the client sends nothing more; a refused non-synchronising literal is
 * discarded (up to IMAP_LITERAL_DISCARD_MAX) or the connection must close, as
 * RFC 7888 section 4 allows. The session may also inspect the arguments
 * parsed so far (imap_parser_command) while a literal is pending, e.g. to
 * refuse an APPEND to a missing mailbox with NO [TRYCREATE] instead of "+";
 * it then calls imap_parser_reset().
 *
 * Streamed literals appear in the tree as IMAP_ARG_LITERAL_EXT with their
 * size and their 0-based order among the command's streamed literals; the
 * caller maps that index to its own sink. A literal is streamed when it is a
 * top-level argument of APPEND other than the first (the mailbox), i.e. the
 * message of APPEND and of each MULTIAPPEND message.
 *
 * Lines handed to the parser are not part of AUTHENTICATE exchanges or IDLE's
 * DONE: those continuation lines belong to the command handler, not here.
 *
 * Memory: the tree and its strings belong to the parser and stay valid until
 * the next imap_parser_feed_line() after COMPLETE/ERROR, imap_parser_reset()
 * or imap_parser_free(). */
#ifndef SEALPOST_IMAP_PARSER_H
#define SEALPOST_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest command line (one line, without literals) the session core
 * accepts. RFC 7162 3.2.1 asks servers to accept at least 8192 octets; we
 * allow 64 KiB like Dovecot's imap_max_line_length. */
#define IMAP_LINE_MAX (64 * 1024)
/* Longest literal that is buffered in memory (every literal except an
 * APPEND message): mailbox names, passwords, search strings. No RFC limit;
 * 64 KiB bounds a session's memory. */
#define IMAP_LITERAL_MAX (64 * 1024)
/* Bytes one command may buffer in total: its lines plus buffered literals. */
#define IMAP_COMMAND_MAX (256 * 1024)
/* List nesting depth "((((...))))": real commands need 3 (FETCH BODY[..]
 * inside a list, SEARCH groups); bounds recursion in every consumer. */
#define IMAP_PARSER_DEPTH_MAX 32
/* Arguments (every atom, string and list) in one command. */
#define IMAP_PARSER_ARGS_MAX 4096
/* Longest tag. RFC 3501 sets none; tags are echoed in replies and logs. */
#define IMAP_TAG_MAX 64
/* Longest refused non-synchronising literal we read and throw away rather
 * than closing the connection (RFC 7888 4: consume it or disconnect). */
#define IMAP_LITERAL_DISCARD_MAX (1024 * 1024)

enum imap_arg_type {
	IMAP_ARG_ATOM,          /* bare word, see the design note */
	IMAP_ARG_NUMBER,        /* atom of digits whose value fits uint64 */
	IMAP_ARG_NIL,           /* the atom NIL, any case */
	IMAP_ARG_STRING,        /* quoted string, escapes removed */
	IMAP_ARG_LITERAL,       /* {N} or {N+} literal buffered here */
	IMAP_ARG_LITERAL_EXT,   /* literal the caller streamed to its sink */
	IMAP_ARG_LIST,          /* ( ... ) */
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM/NUMBER/NIL/STRING/LITERAL: NUL-terminated text of len bytes
	 * (atoms keep their original case; literals hold no NUL).
	 * LIST: len items in list. LITERAL_EXT: str is NULL, len 0. */
	size_t len;
	char *str;
	struct imap_arg *list;
	uint64_t number;        /* NUMBER: value; LITERAL_EXT: size */
	unsigned ext_index;     /* LITERAL_EXT: order among streamed literals */
	size_t list_cap;        /* private */
};

struct imap_command {
	const char *tag;
	const char *name;               /* command name as sent */
	const struct imap_arg *args;    /* top-level arguments */
	size_t n_args;
};

enum imap_parse_result {
	IMAP_PARSE_COMPLETE,
	IMAP_PARSE_NEED_LITERAL,
	IMAP_PARSE_ERROR,
};

struct imap_literal {
	uint64_t size;
	bool sync;      /* {N}: send a "+" continuation before reading it */
	bool stream;    /* APPEND message: caller stores it, then _literal_done */
	bool discard;   /* command already failed: read and drop it */
	bool binary;    /* literal8 "~{N}" (RFC 3516): may hold NUL; only
			   streamed (APPEND messages) */
};

struct imap_parse_error {
	const char *text;       /* e.g. "Unterminated quoted string" */
	bool toobig;            /* reply NO [TOOBIG] instead of BAD */
	bool disconnect;        /* input can no longer be framed: close */
};

struct imap_parser;

/* A parser whose APPEND message literals may be up to append_max bytes. */
struct imap_parser *imap_parser_new(uint64_t append_max);
void imap_parser_free(struct imap_parser **pp);
/* Drop the command being parsed; the next line starts a new command. */
void imap_parser_reset(struct imap_parser *p);

/* Feed one line, with or without its CRLF (or LF). A line after COMPLETE or
 * ERROR starts a new command; after NEED_LITERAL (and the literal) it
 * continues the current one. */
enum imap_parse_result imap_parser_feed_line(struct imap_parser *p,
					     const char *line, size_t len);
/* The literal the parser waits for after NEED_LITERAL. */
void imap_parser_literal(const struct imap_parser *p, struct imap_literal *lit_r);
/* Feed the next bytes of a buffered (or discarded) literal; the chunks
 * together must be exactly the announced size (more is a caller bug). */
void imap_parser_feed_literal(struct imap_parser *p, const void *data, size_t len);
/* The caller consumed the whole announced literal itself (stream/discard). */
void imap_parser_literal_done(struct imap_parser *p);

/* The command after COMPLETE (or the part parsed so far while a literal is
 * pending); owned by the parser. */
const struct imap_command *imap_parser_command(const struct imap_parser *p);
/* The error after ERROR; owned by the parser. */
const struct imap_parse_error *imap_parser_error(const struct imap_parser *p);
/* The tag of the current command, or NULL when none was parsed (reply with
 * "*" then). */
const char *imap_parser_tag(const struct imap_parser *p);

/* Replace the text of an argument of the current command (an ATOM,
 * NUMBER, STRING or LITERAL; its type stays) with str, which the parser
 * takes over. For the session's rewriting of IMAP4rev2 mailbox names. */
void imap_parser_replace_str(struct imap_parser *p, const struct imap_arg *arg,
			     char *str);

/* Argument accessors: true when arg has the asked form. */
/* ATOM/NUMBER/NIL equal to word, case-insensitively. */
bool imap_arg_atom_equals(const struct imap_arg *arg, const char *word);
/* Text of an ATOM, NUMBER or NIL. */
bool imap_arg_get_atom(const struct imap_arg *arg, const char **s_r);
/* astring (RFC 3501 9): atom of ASTRING-CHARs (8-bit tolerated), NUMBER,
 * NIL (as the text "NIL"), quoted string or literal. */
bool imap_arg_get_astring(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* string: quoted string or literal. */
bool imap_arg_get_string(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* nstring: string, or NIL (s_r set to NULL). */
bool imap_arg_get_nstring(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* list-mailbox: astring that may also hold the wildcards % and *. */
bool imap_arg_get_list_mailbox(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* NUMBER no greater than max. */
bool imap_arg_get_number(const struct imap_arg *arg, uint64_t max, uint64_t *n_r);
/* LIST items. */
bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **items_r,
		       size_t *count_r);
/* The flags of STORE/APPEND: items are the flag atoms (the items of a
 * flag-list, or STORE's unparenthesised flags). System flags go into
 * *flags_r, keywords into *keywords_r (NULL-terminated, duplicates removed,
 * new strings: free with strv_free). \Recent and unknown \Flags are refused. */
int imap_flags_parse(const struct imap_arg *items, size_t count, uint32_t *flags_r,
		     char ***keywords_r, const char **error_r);

#endif
