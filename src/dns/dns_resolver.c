/* dns_resolver.c — libunbound on the event loop: the validating context,
 * its answer pipe watched by libevent, queries with a timeout, cancel.
 *
 * libunbound resolves on its own thread (ub_ctx_async(ctx, 1)); answers
 * queue in a pipe whose read end (ub_fd()) is a persistent read event on
 * the caller's base, and ub_process() calls query_answered() for each, on
 * the loop thread. ub_cancel() of a query whose callback has not run
 * always succeeds in that mode (the query stays in libunbound's table until
 * its callback runs), so a cancelled query never calls back. Starting a
 * lookup writes the question into libunbound's other pipe; that write
 * could only block with some thousand questions queued unread (a 64 KiB
 * pipe, under 100 bytes each).
 *
 * With a trust anchor, the resolver first checks its server (dns.h, enum
 * dns_dnssec): when that strips DNSSEC, the validating ctx is replaced by
 * one without the anchor, between two ub_process() calls, and every
 * running lookup is asked again there (ctx_gen tells which are not yet). */
#include "dns/dns_private.h"
#include "conf/config.h"
#include "lib/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unbound.h>
#include <unistd.h>

/* What the DNSSEC check found: an answer's detail and our words around it. */
#define DNS_DNSSEC_DETAIL_MAX (DNS_DETAIL_MAX + 80)

enum lookup_kind {
	LOOKUP_MX,
	LOOKUP_ADDRS,
	LOOKUP_TLSA,
};

/* One ub_resolve_async(). */
struct dns_query {
	struct dns_lookup *lookup;
	int rrtype;
	int async_id;
	bool active;
	struct event *timer;
};

struct dns_lookup {
	struct dns_resolver *res;
	struct dns_lookup *prev, *next;  /* the resolver's running lookups */
	enum lookup_kind kind;
	char name[DNS_NAME_MAX + 1];     /* normalised host or domain */
	char qname[DNS_NAME_MAX + 16];   /* asked: name, or _PORT._tcp.name */
	void *out;                       /* the caller's result */
	dns_callback_t *callback;
	void *context;
	struct dns_query q[2];           /* ADDRS: AAAA and A */
	unsigned n_queries, pending;
	int types[2];                    /* what q[] asks, to ask it again */
	unsigned n_types;
	unsigned ctx_gen;                /* the resolver's ctx_gen it asked */
	bool held;                       /* answered bogus while the DNSSEC
					  * check runs: waits for it */
	bool completing;                 /* in its callback: cancel is a no-op */
};

/* The check of the server's DNSSEC (enum dns_dnssec in dns.h). */
struct dnssec_check {
	int async_id;
	bool active;
	bool bogus;                      /* the answer, for check_done() */
	struct event *timer;
	struct event *ev_done;           /* check_done(), outside ub_process() */
};

struct dns_resolver {
	struct ub_ctx *ctx;
	struct event_base *base;
	struct event *ev_answers;        /* ub_fd() readable */
	struct timeval timeout;
	unsigned timeout_ms;
	char *trust_anchor;              /* NULL: no validation */
	char *forwarder;                 /* the settings', for a new ctx */
	bool dnssec_require;
	enum dns_dnssec dnssec;
	char dnssec_detail[DNS_DNSSEC_DETAIL_MAX + 1];
	struct dnssec_check check;
	unsigned ctx_gen;                /* ctx replaced this many times */
	FILE *log;                       /* libunbound's log, into ours */
	char log_first_error[DNS_DETAIL_MAX + 1];
	struct dns_lookup *lookups;
	size_t n_lookups;
};

/* ---- libunbound's log lines into ours ---------------------------------- */

/* libunbound writes "[TIME] libunbound[PID:TID] LEVEL: TEXT\n" and flushes
 * every line; this runs on whichever thread logged, under the FILE's lock. */
static ssize_t ub_log_write(void *cookie, const char *buf, size_t size)
{
	struct dns_resolver *res = cookie;
	const char *p = buf, *end = buf + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (len > 0) {
			char *text = xstrndup(p, len), *msg = strstr(text, "] ");
			msg = msg != NULL ? strstr(msg + 2, "] ") : NULL;
			msg = msg != NULL ? msg + 2 : text;
			bool error = str_has_prefix_ci(msg, "error: ");
			if (error && res->log_first_error[0] == '\0')
				strlcpy_sp(res->log_first_error, msg + 7,
					   sizeof(res->log_first_error));
			log_msg(error || str_has_prefix_ci(msg, "warning: ") ?
				LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
				"dns: libunbound: %s", log_value(msg));
			free(text);
		}
		p += len + (nl != NULL);
	}
	return (ssize_t)size;
}

static FILE *ub_log_open(struct dns_resolver *res)
{
	cookie_io_functions_t io = { .write = ub_log_write };
	FILE *fp = fopencookie(res, "w", io);

	if (fp != NULL)
		setvbuf(fp, NULL, _IOLBF, 0);
	return fp;
}

/* ---- settings ---------------------------------------------------------- */

void dns_settings_from_config(const struct config *cfg,
			      struct dns_resolver_settings *set_r)
{
	memset(set_r, 0, sizeof(*set_r));
	set_r->forwarder = cfg->outbound_resolver;
	set_r->trust_anchor = cfg->outbound_trust_anchor;
	set_r->dnssec_require = cfg->outbound_dnssec_require;
}

/* "192.0.2.1:53" / "[2001:db8::1]:53" into libunbound's "ADDR@PORT". */
static int forwarder_spec(const char *text, char *buf, size_t size,
			  const char **error_r)
{
	const char *colon = strrchr(text, ':');
	const char *host = text, *host_end = colon;

	if (colon == NULL || colon[1] == '\0') {
		*error_r = errfmt("resolver '%s': expected ADDRESS:PORT", text);
		return -1;
	}
	if (text[0] == '[') {
		host = text + 1;
		host_end = strchr(text, ']');
		if (host_end == NULL || host_end + 1 != colon) {
			*error_r = errfmt("resolver '%s': expected [IPv6]:PORT", text);
			return -1;
		}
	}
	snprintf(buf, size, "%.*s@%s", (int)(host_end - host), host, colon + 1);
	return 0;
}

/* "ADDRESS@PORT" for ub_ctx_set_fwd: an IPv6 address and a port fit. */
#define DNS_FORWARDER_SPEC_MAX 80

static int setup_upstream(struct dns_resolver *res,
			  const struct dns_resolver_settings *set,
			  const char **error_r)
{
	char spec[DNS_FORWARDER_SPEC_MAX];
	int r;

	if (set->forwarder == NULL) {
		/* The system's servers; Postfix too ignores /etc/hosts for
		 * mail routing. */
		r = ub_ctx_resolvconf(res->ctx, NULL);
		if (r != 0) {
			*error_r = errfmt("/etc/resolv.conf: %s (set [outbound] "
					  "resolver)", r == UB_READFILE ?
					  strerror(errno) : ub_strerror(r));
			return -1;
		}
		return 0;
	}
	if (forwarder_spec(set->forwarder, spec, sizeof(spec), error_r) < 0)
		return -1;
	r = ub_ctx_set_fwd(res->ctx, spec);
	if (r != 0) {
		*error_r = errfmt("resolver '%s': %s", set->forwarder, ub_strerror(r));
		return -1;
	}
	return 0;
}

static int setup_anchor(struct dns_resolver *res,
			const struct dns_resolver_settings *set,
			const char **error_r)
{
	const char *file = set->trust_anchor;
	int fd;

	if (file == NULL) {
		if (access(DNS_ROOT_ANCHOR_FILE, R_OK) < 0) {
			log_warn("dns: no trust anchor (%s: %s; install "
				 "dns-root-data or set [outbound] trust_anchor): "
				 "DNSSEC is off, DANE never applies",
				 DNS_ROOT_ANCHOR_FILE, strerror(errno));
			return 0;
		}
		file = DNS_ROOT_ANCHOR_FILE;
	}
	/* libunbound would only say "initialization failure". */
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = errfmt("trust_anchor %s: %s", file, strerror(errno));
		return -1;
	}
	close(fd);
	int r = ub_ctx_add_ta_file(res->ctx, file);
	if (r != 0) {
		*error_r = errfmt("trust_anchor %s: %s", file, ub_strerror(r));
		return -1;
	}
	res->trust_anchor = xstrdup(file);
	return 0;
}

/* libunbound reads its files when the first lookup finalises the context.
 * Do it now with a lookup its built-in localhost zone answers (RFC 6761
 * 6.3, no network), so a bad trust anchor stops the start. */
static int finalize(struct dns_resolver *res, const char **error_r)
{
	struct ub_result *result = NULL;
	int r = ub_resolve(res->ctx, "localhost.", DNS_TYPE_A, DNS_CLASS_IN,
			   &result);

	ub_resolve_free(result);
	if (r == 0)
		return 0;
	const char *why = res->log_first_error[0] != '\0' ?
			  res->log_first_error : ub_strerror(r);
	if (res->trust_anchor != NULL)
		*error_r = errfmt("trust_anchor %s: %s", res->trust_anchor, why);
	else
		*error_r = errfmt("resolver: %s", why);
	return -1;
}

static void answers_ready(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *res = arg;
	int r = ub_process(res->ctx);

	if (r != 0)
		log_error("dns: reading answers: %s", ub_strerror(r));
}

static int setup_ctx(struct dns_resolver *res,
		     const struct dns_resolver_settings *set, bool validate,
		     const char **error_r)
{
	res->ctx = ub_ctx_create();
	if (res->log == NULL)
		res->log = ub_log_open(res);
	if (res->ctx == NULL || res->log == NULL) {
		*error_r = errfmt("resolver: %s", strerror(errno));
		return -1;
	}
	ub_ctx_debugout(res->ctx, res->log);
	/* A thread, not a forked process: it shares the worker's memory and
	 * goes away with it. */
	int r = ub_ctx_async(res->ctx, 1);
	if (r != 0) {
		*error_r = errfmt("resolver: %s", ub_strerror(r));
		return -1;
	}
	if (setup_upstream(res, set, error_r) < 0 ||
	    (validate && setup_anchor(res, set, error_r) < 0) ||
	    finalize(res, error_r) < 0)
		return -1;
	res->ev_answers = event_new(res->base, ub_fd(res->ctx),
				    EV_READ | EV_PERSIST, answers_ready, res);
	if (res->ev_answers == NULL || event_add(res->ev_answers, NULL) < 0) {
		*error_r = "resolver: cannot watch libunbound's pipe";
		return -1;
	}
	return 0;
}

static void dnssec_check_start(struct dns_resolver *res);

int dns_resolver_create(struct event_base *base,
			const struct dns_resolver_settings *set,
			struct dns_resolver **res_r, const char **error_r)
{
	struct dns_resolver *res = xcalloc(1, sizeof(*res));

	res->base = base;
	res->timeout_ms = set->timeout_ms != 0 ? set->timeout_ms
					       : DNS_QUERY_TIMEOUT_MS;
	res->timeout.tv_sec = res->timeout_ms / 1000;
	res->timeout.tv_usec = (res->timeout_ms % 1000) * 1000;
	res->forwarder = set->forwarder != NULL ? xstrdup(set->forwarder) : NULL;
	res->dnssec_require = set->dnssec_require;
	if (setup_ctx(res, set, true, error_r) < 0) {
		dns_resolver_free(&res);
		return -1;
	}
	if (res->trust_anchor != NULL)
		dnssec_check_start(res);
	*res_r = res;
	return 0;
}

const char *dns_resolver_trust_anchor(const struct dns_resolver *res)
{
	return res->trust_anchor;
}

size_t dns_resolver_pending(const struct dns_resolver *res)
{
	return res->n_lookups;
}

/* ---- lookups ----------------------------------------------------------- */

static void lookup_unlink(struct dns_lookup *l)
{
	struct dns_resolver *res = l->res;

	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		res->lookups = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	l->prev = l->next = NULL;
	res->n_lookups--;
}

static void lookup_free(struct dns_lookup *l)
{
	for (unsigned i = 0; i < l->n_queries; i++) {
		if (l->q[i].timer != NULL)
			event_free(l->q[i].timer);
	}
	free(l);
}

/* Stop every query still running: no callback comes for them. */
static void lookup_stop(struct dns_lookup *l)
{
	for (unsigned i = 0; i < l->n_queries; i++) {
		struct dns_query *q = &l->q[i];
		if (!q->active)
			continue;
		int r = ub_cancel(l->res->ctx, q->async_id);
		if (r != 0) /* cannot happen in thread mode, see the top */
			log_error("dns: cancel %s: %s", l->qname, ub_strerror(r));
		q->active = false;
	}
}

static struct dns_answer *query_answer(struct dns_query *q)
{
	struct dns_lookup *l = q->lookup;

	switch (l->kind) {
	case LOOKUP_MX:
		return &((struct dns_mx_result *)l->out)->answer;
	case LOOKUP_ADDRS: {
		struct dns_addrs_result *r = l->out;
		return q->rrtype == DNS_TYPE_A ? &r->a : &r->aaaa;
	}
	case LOOKUP_TLSA:
		return &((struct dns_tlsa_result *)l->out)->answer;
	}
	abort();
}

/* IPv6 first (RFC 6724 6, rule 6 prefers it by default), each family in
 * the order of its answer. */
static void addrs_order(struct dns_addrs_result *r)
{
	struct dns_addr v[N_ELEMENTS(r->addr)];
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		int family = pass == 0 ? AF_INET6 : AF_INET;
		for (size_t i = 0; i < r->n; i++) {
			if (r->addr[i].family == family)
				v[n++] = r->addr[i];
		}
	}
	memcpy(r->addr, v, n * sizeof(v[0]));
}

static void lookup_complete(struct dns_lookup *l)
{
	lookup_unlink(l);
	if (l->kind == LOOKUP_ADDRS)
		addrs_order(l->out);
	l->completing = true;
	l->callback(l->context);
	lookup_free(l);
}

static bool lookup_bogus(struct dns_lookup *l)
{
	for (unsigned i = 0; i < l->n_queries; i++) {
		if (query_answer(&l->q[i])->status == DNS_BOGUS)
			return true;
	}
	return false;
}

static void lookup_query_done(struct dns_lookup *l)
{
	if (--l->pending > 0)
		return;
	/* Bogus perhaps only because the server strips DNSSEC: the check
	 * tells, then check_done() reports it or asks again. */
	if (l->res->dnssec == DNS_DNSSEC_CHECKING && lookup_bogus(l)) {
		l->held = true;
		return;
	}
	lookup_complete(l);
}

static const char *rcode_name(int rcode)
{
	/* RFC 1035 4.1.1, RFC 6895 2.3 */
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	};
	if (rcode >= 0 && (size_t)rcode < N_ELEMENTS(names))
		return names[rcode];
	return errfmt("RCODE %d", rcode);
}

static void answer_classify(int err, const struct ub_result *r,
			    struct dns_answer *a)
{
	if (err != 0 || r == NULL) {
		dns_answer_set(a, DNS_TEMPFAIL, DNS_SEC_INSECURE, -1,
			       errfmt("resolver error: %s", ub_strerror(err)));
	} else if (r->bogus) {
		dns_answer_set(a, DNS_BOGUS, DNS_SEC_BOGUS, r->rcode,
			       r->why_bogus != NULL ? r->why_bogus :
			       "DNSSEC validation failed");
	} else {
		enum dns_security sec = r->secure ? DNS_SEC_SECURE
						  : DNS_SEC_INSECURE;
		if (r->rcode == 3)
			dns_answer_set(a, DNS_NXDOMAIN, sec, 3, NULL);
		else if (r->rcode != 0)
			dns_answer_set(a, DNS_TEMPFAIL, sec, r->rcode,
				       rcode_name(r->rcode));
		else
			dns_answer_set(a, r->havedata ? DNS_OK : DNS_NODATA, sec,
				       0, NULL);
	}
}

/* Records of the answer into the result (nothing for a failure). */
static void query_store(struct dns_query *q, const struct ub_result *r)
{
	struct dns_lookup *l = q->lookup;
	const struct dns_answer *a = query_answer(q);
	struct dns_rdata rd = { NULL, NULL };

	if (a->status == DNS_OK && r != NULL) {
		rd.data = r->data;
		rd.len = r->len;
	}
	switch (l->kind) {
	case LOOKUP_MX:
		dns_mx_parse(l->name, &rd, l->out);
		break;
	case LOOKUP_ADDRS:
		dns_addrs_parse(q->rrtype == DNS_TYPE_A ? AF_INET : AF_INET6, &rd,
				a->security == DNS_SEC_SECURE, l->out);
		break;
	case LOOKUP_TLSA:
		dns_tlsa_parse(&rd, l->out);
		break;
	}
}

static void query_answered(void *arg, int err, struct ub_result *result)
{
	struct dns_query *q = arg;

	q->active = false;
	evtimer_del(q->timer);
	answer_classify(err, result, query_answer(q));
	query_store(q, result);
	ub_resolve_free(result);
	lookup_query_done(q->lookup);
}

static void query_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	struct dns_lookup *l = q->lookup;
	struct dns_resolver *res = l->res;
	int r = ub_cancel(res->ctx, q->async_id);

	if (r != 0) /* cannot happen in thread mode, see the top */
		log_error("dns: cancel %s: %s", l->qname, ub_strerror(r));
	q->active = false;
	dns_answer_set(query_answer(q), DNS_TEMPFAIL, DNS_SEC_INSECURE, -1,
		       errfmt("no answer within %u.%03u s", res->timeout_ms / 1000,
			      res->timeout_ms % 1000));
	query_store(q, NULL);
	lookup_query_done(l);
}

static int query_start(struct dns_lookup *l, int rrtype, const char **error_r)
{
	struct dns_resolver *res = l->res;
	struct dns_query *q = &l->q[l->n_queries++];
	int r;

	q->lookup = l;
	q->rrtype = rrtype;
	q->timer = evtimer_new(res->base, query_timeout, q);
	if (q->timer == NULL) {
		*error_r = errfmt("%s: cannot create a timer", l->qname);
		return -1;
	}
	if (res->ctx == NULL) {      /* a replacement failed (ctx_replace) */
		*error_r = errfmt("%s: no resolver", l->qname);
		return -1;
	}
	r = ub_resolve_async(res->ctx, l->qname, rrtype, DNS_CLASS_IN, q,
			     query_answered, &q->async_id);
	if (r != 0) {
		*error_r = errfmt("%s: %s", l->qname, ub_strerror(r));
		return -1;
	}
	q->active = true;
	l->pending++;
	evtimer_add(q->timer, &res->timeout);
	return 0;
}

static struct dns_lookup *lookup_new(struct dns_resolver *res,
				     enum lookup_kind kind, const char *name,
				     void *out, dns_callback_t *callback,
				     void *context, const char **error_r)
{
	struct dns_lookup *l = xcalloc(1, sizeof(*l));

	if (!dns_name_normalize(name, l->name)) {
		*error_r = errfmt("'%s' is not a valid domain name",
				  log_value(name));
		free(l);
		return NULL;
	}
	strlcpy_sp(l->qname, l->name, sizeof(l->qname));
	l->res = res;
	l->ctx_gen = res->ctx_gen;
	l->kind = kind;
	l->out = out;
	l->callback = callback;
	l->context = context;
	l->next = res->lookups;
	if (res->lookups != NULL)
		res->lookups->prev = l;
	res->lookups = l;
	res->n_lookups++;
	return l;
}

/* Start the queries of l, or undo it all. */
static struct dns_lookup *lookup_start(struct dns_lookup *l, const int *types,
				       unsigned n_types, const char **error_r)
{
	memcpy(l->types, types, n_types * sizeof(types[0]));
	l->n_types = n_types;
	for (unsigned i = 0; i < n_types; i++) {
		if (query_start(l, types[i], error_r) < 0) {
			lookup_stop(l);
			lookup_unlink(l);
			lookup_free(l);
			return NULL;
		}
	}
	return l;
}

struct dns_lookup *dns_lookup_mx(struct dns_resolver *res, const char *domain,
				 struct dns_mx_result *out,
				 dns_callback_t *callback, void *context,
				 const char **error_r)
{
	static const int types[] = { DNS_TYPE_MX };
	struct dns_lookup *l;

	memset(out, 0, sizeof(*out));
	l = lookup_new(res, LOOKUP_MX, domain, out, callback, context, error_r);
	return l != NULL ? lookup_start(l, types, 1, error_r) : NULL;
}

struct dns_lookup *dns_lookup_addrs(struct dns_resolver *res, const char *host,
				    struct dns_addrs_result *out,
				    dns_callback_t *callback, void *context,
				    const char **error_r)
{
	static const int types[] = { DNS_TYPE_AAAA, DNS_TYPE_A };
	struct dns_lookup *l;

	memset(out, 0, sizeof(*out));
	l = lookup_new(res, LOOKUP_ADDRS, host, out, callback, context, error_r);
	return l != NULL ? lookup_start(l, types, 2, error_r) : NULL;
}

struct dns_lookup *dns_lookup_tlsa(struct dns_resolver *res, const char *host,
				   uint16_t port, struct dns_tlsa_result *out,
				   dns_callback_t *callback, void *context,
				   const char **error_r)
{
	static const int types[] = { DNS_TYPE_TLSA };
	struct dns_lookup *l;

	memset(out, 0, sizeof(*out));
	l = lookup_new(res, LOOKUP_TLSA, host, out, callback, context, error_r);
	if (l == NULL)
		return NULL;
	/* RFC 6698 3: _PORT._tcp.HOST */
	snprintf(l->qname, sizeof(l->qname), "_%u._tcp.%s", (unsigned)port,
		 l->name);
	strlcpy_sp(out->name, l->qname, sizeof(out->name));
	return lookup_start(l, types, 1, error_r);
}

void dns_lookup_cancel(struct dns_lookup **lookup)
{
	struct dns_lookup *l = *lookup;

	*lookup = NULL;
	if (l == NULL || l->completing)
		return;
	lookup_stop(l);
	lookup_unlink(l);
	lookup_free(l);
}

/* ---- the check of the server's DNSSEC (enum dns_dnssec) ---------------- */

/* The lookup's result as before its first question. */
static void lookup_out_reset(struct dns_lookup *l)
{
	switch (l->kind) {
	case LOOKUP_MX:
		memset(l->out, 0, sizeof(struct dns_mx_result));
		break;
	case LOOKUP_ADDRS:
		memset(l->out, 0, sizeof(struct dns_addrs_result));
		break;
	case LOOKUP_TLSA: {
		struct dns_tlsa_result *r = l->out;   /* keeps its name */
		for (size_t i = 0; i < r->n; i++)
			free(r->rr[i].data);
		memset(&r->answer, 0, sizeof(r->answer));
		memset(r->rr, 0, sizeof(r->rr));
		r->n = r->n_dropped = 0;
		break;
	}
	}
}

/* Ask l's questions again on the resolver's new ctx (its old queries are
 * stopped). A question that cannot be asked is a temporary failure; when
 * none could, the lookup is complete: its callback runs. */
static void lookup_restart(struct dns_lookup *l)
{
	const char *error;

	for (unsigned i = 0; i < l->n_queries; i++) {
		if (l->q[i].timer != NULL)
			event_free(l->q[i].timer);
	}
	memset(l->q, 0, sizeof(l->q));
	l->n_queries = l->pending = 0;
	l->held = false;
	l->ctx_gen = l->res->ctx_gen;
	lookup_out_reset(l);
	for (unsigned i = 0; i < l->n_types; i++) {
		if (query_start(l, l->types[i], &error) < 0) {
			struct dns_query *q = &l->q[l->n_queries - 1];
			dns_answer_set(query_answer(q), DNS_TEMPFAIL,
				       DNS_SEC_INSECURE, -1, error);
		}
	}
	if (l->pending == 0)
		lookup_complete(l);
}

/* Report every held lookup as it was answered. A callback may cancel or
 * start others: look again from the start after each. */
static void release_held(struct dns_resolver *res)
{
	for (;;) {
		struct dns_lookup *l = res->lookups;
		while (l != NULL && !l->held)
			l = l->next;
		if (l == NULL)
			return;
		l->held = false;
		lookup_complete(l);
	}
}

/* A ctx without the trust anchor, and every running lookup asked again on
 * it. */
static void ctx_replace(struct dns_resolver *res)
{
	struct dns_resolver_settings set = { .forwarder = res->forwarder };
	const char *error;

	for (struct dns_lookup *l = res->lookups; l != NULL; l = l->next)
		lookup_stop(l);
	event_free(res->ev_answers);
	res->ev_answers = NULL;
	ub_ctx_delete(res->ctx);
	res->ctx = NULL;
	res->ctx_gen++;
	if (setup_ctx(res, &set, false, &error) < 0) {
		log_error("dns: a resolver without validation: %s", error);
		if (res->ev_answers != NULL)
			event_free(res->ev_answers);
		res->ev_answers = NULL;
		if (res->ctx != NULL)
			ub_ctx_delete(res->ctx);
		res->ctx = NULL;
	}
	for (;;) {
		struct dns_lookup *l = res->lookups;
		while (l != NULL && l->ctx_gen == res->ctx_gen)
			l = l->next;
		if (l == NULL)
			return;
		lookup_restart(l);
	}
}

/* Runs from the event loop, not inside ub_process(): the ctx may go. */
static void check_done(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *res = arg;

	if (!res->check.bogus) {
		res->dnssec = DNS_DNSSEC_ON;
		if (res->dnssec_detail[0] == '\0')
			log_info("dns: dnssec on: the resolver passes DNSSEC "
				 "(the root's DNSKEY is secure)");
		else
			log_info("dns: dnssec on: %s", res->dnssec_detail);
		release_held(res);
	} else if (res->dnssec_require) {
		res->dnssec = DNS_DNSSEC_STRIPPED_REQUIRED;
		log_warn("dns: the resolver passes no DNSSEC (%s): validation "
			 "stays on ([outbound] dnssec = require), so mail to "
			 "every signed domain is deferred; set [outbound] "
			 "resolver to one that passes DNSSEC (a local unbound)",
			 res->dnssec_detail);
		release_held(res);
	} else {
		res->dnssec = DNS_DNSSEC_STRIPPED;
		log_warn("dns: the resolver passes no DNSSEC (%s): validation "
			 "is off, DANE never applies; set [outbound] resolver to "
			 "one that passes DNSSEC (a local unbound), or [outbound] "
			 "dnssec = require to defer mail to signed domains instead",
			 res->dnssec_detail);
		ctx_replace(res);
	}
}

static void check_found(struct dns_resolver *res, const struct dns_answer *a)
{
	res->check.bogus = a->status == DNS_BOGUS;
	if (a->status == DNS_BOGUS)
		snprintf(res->dnssec_detail, sizeof(res->dnssec_detail),
			 "the root's DNSKEY is bogus: %s", a->detail);
	else if (a->security == DNS_SEC_SECURE)
		res->dnssec_detail[0] = '\0';
	else if (a->status == DNS_TEMPFAIL)
		snprintf(res->dnssec_detail, sizeof(res->dnssec_detail),
			 "the resolver's DNSSEC is unchecked: no root DNSKEY "
			 "(%s)", a->detail);
	else
		strlcpy_sp(res->dnssec_detail, "the resolver's DNSSEC is "
			   "unchecked: the trust anchor does not cover the root",
			   sizeof(res->dnssec_detail));
	event_active(res->check.ev_done, EV_TIMEOUT, 0);
}

static void check_answered(void *arg, int err, struct ub_result *result)
{
	struct dns_resolver *res = arg;
	struct dns_answer a;

	res->check.active = false;
	evtimer_del(res->check.timer);
	answer_classify(err, result, &a);
	ub_resolve_free(result);
	check_found(res, &a);
}

static void check_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *res = arg;
	struct dns_answer a;
	int r = ub_cancel(res->ctx, res->check.async_id);

	if (r != 0) /* cannot happen in thread mode, see the top */
		log_error("dns: cancel the DNSSEC check: %s", ub_strerror(r));
	res->check.active = false;
	dns_answer_set(&a, DNS_TEMPFAIL, DNS_SEC_INSECURE, -1, "no answer in time");
	check_found(res, &a);
}

static void dnssec_check_start(struct dns_resolver *res)
{
	unsigned ms = res->timeout_ms < DNS_DNSSEC_CHECK_MS ? res->timeout_ms
							    : DNS_DNSSEC_CHECK_MS;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct dns_answer a;

	res->dnssec = DNS_DNSSEC_CHECKING;
	res->check.timer = evtimer_new(res->base, check_timeout, res);
	res->check.ev_done = event_new(res->base, -1, 0, check_done, res);
	if (res->check.timer == NULL || res->check.ev_done == NULL) {
		res->dnssec = DNS_DNSSEC_ON;
		strlcpy_sp(res->dnssec_detail, "the resolver's DNSSEC is "
			   "unchecked: no timer", sizeof(res->dnssec_detail));
		return;
	}
	int r = ub_resolve_async(res->ctx, ".", DNS_TYPE_DNSKEY, DNS_CLASS_IN,
				 res, check_answered, &res->check.async_id);
	if (r != 0) {
		dns_answer_set(&a, DNS_TEMPFAIL, DNS_SEC_INSECURE, -1,
			       ub_strerror(r));
		check_found(res, &a);
		return;
	}
	res->check.active = true;
	evtimer_add(res->check.timer, &tv);
}

enum dns_dnssec dns_resolver_dnssec(const struct dns_resolver *res,
				    const char **detail_r)
{
	if (detail_r != NULL)
		*detail_r = res->dnssec_detail;
	return res->dnssec;
}

void dns_resolver_free(struct dns_resolver **resp)
{
	struct dns_resolver *res = *resp;

	if (res == NULL)
		return;
	if (res->check.active && res->ctx != NULL)
		(void)ub_cancel(res->ctx, res->check.async_id);
	if (res->check.timer != NULL)
		event_free(res->check.timer);
	if (res->check.ev_done != NULL)
		event_free(res->check.ev_done);
	while (res->lookups != NULL) {
		struct dns_lookup *l = res->lookups;
		dns_lookup_cancel(&l);
	}
	if (res->ev_answers != NULL)
		event_free(res->ev_answers);
	/* Stops libunbound's thread and gives its log back to stderr. */
	if (res->ctx != NULL)
		ub_ctx_delete(res->ctx);
	if (res->log != NULL)
		fclose(res->log);
	free(res->trust_anchor);
	free(res->forwarder);
	x_free(resp);
}
