/* outbound_dest.c — destinations and their connections. A destination (a
 * recipient domain, or the relayhost) has a list of transactions ready to
 * go, a route (MX hosts in order, their addresses and DANE state; dns.h)
 * and connections: up to max_connections_per_destination of them, and
 * max_connections in all. A connection walks the route's addresses in
 * order until one gives a session (MX fallback), then carries the ready
 * transactions one after the other and QUITs when none is left. When no
 * connection of a destination gets anywhere, its ready transactions are
 * deferred with the last error. */
#include "outbound/outbound_private.h"
#include "net/addr.h"
#include "mail/smtp_addr.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void dest_kick(struct outbound *ob, struct odest *d);
static void conn_try(struct oconn *c);

void ojob_free(struct ojob **jobp)
{
	struct ojob *job = *jobp;

	if (job == NULL)
		return;
	free(job->rcpts);
	x_free(jobp);
}

static struct odest *dest_get(struct outbound *ob, const char *name)
{
	struct odest *d;

	for (d = ob->dests; d != NULL; d = d->next) {
		if (strcmp(d->name, name) == 0)
			return d;
	}
	d = xcalloc(1, sizeof(*d));
	d->ob = ob;
	d->name = xstrdup(name);
	d->next = ob->dests;
	ob->dests = d;
	return d;
}

static bool is_relay(const struct outbound *ob, const struct odest *d)
{
	return ob->cfg->relay_host != NULL && strcmp(d->name, ob->cfg->relay_host) == 0;
}

static enum outbound_tls dest_level(const struct outbound *ob, const struct odest *d)
{
	return config_tls_level(ob->cfg, d->name);
}

static uint16_t dest_port(const struct outbound *ob, const struct odest *d)
{
	return (uint16_t)(is_relay(ob, d) ? ob->cfg->relay_port : ob->cfg->outbound_port);
}

/* Every ready transaction of d ends with state and reply. */
static void fail_ready(struct outbound *ob, struct odest *d,
		       enum queue_rcpt_state state, const char *reply)
{
	struct ojob *job;

	while ((job = d->ready) != NULL) {
		d->ready = job->next;
		struct omsg *m = job->msg;
		for (size_t i = 0; i < job->n; i++)
			log_info("queue: %s %s to=<%s> reason=\"%s\"", m->env->id,
				 queue_rcpt_state_name(state),
				 log_value(m->env->rcpts[job->rcpts[i]].address),
				 log_value(reply));
		omsg_result(ob, m, job->rcpts, job->n, state, NULL, NULL, reply);
		ojob_free(&job);
		omsg_job_done(ob, m);
	}
	d->ready_tail = NULL;
	d->n_ready = 0;
}

void odest_add(struct outbound *ob, const char *name, struct ojob *job)
{
	struct odest *d = dest_get(ob, name);

	job->dest = d;
	job->next = NULL;
	if (d->ready_tail != NULL)
		d->ready_tail->next = job;
	else
		d->ready = job;
	d->ready_tail = job;
	d->n_ready++;
	dest_kick(ob, d);
}

static struct ojob *take_job(struct odest *d)
{
	struct ojob *job = d->ready;

	if (job != NULL) {
		d->ready = job->next;
		if (d->ready == NULL)
			d->ready_tail = NULL;
		d->n_ready--;
	}
	return job;
}

/* ---- the route ------------------------------------------------------------ */

/* An address as a route of one host, no DNS: a recipient domain that is
 * an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]": the SMTP
 * server's parser, smtp_addr.h), or a relayhost written as an address. */
static bool literal_route(const char *name, uint16_t port, struct dns_route *r)
{
	struct dns_addr *a = &r->host[0].addrs.addr[0];
	struct smtp_literal lit;
	const char *error;

	memset(r, 0, sizeof(*r));
	if (name[0] == '[') {
		if (smtp_literal_scan(name, &lit, &error) != strlen(name))
			return false;
		a->family = lit.family == SMTP_LITERAL_IPV6 ? AF_INET6 : AF_INET;
		memcpy(a->family == AF_INET6 ? (void *)&a->u.v6 : (void *)&a->u.v4,
		       lit.addr, a->family == AF_INET6 ? 16 : 4);
	} else if (inet_pton(AF_INET6, name, &a->u.v6) == 1) {
		a->family = AF_INET6;
	} else if (inet_pton(AF_INET, name, &a->u.v4) == 1) {
		a->family = AF_INET;
	} else {
		return false;
	}
	char addr[INET6_ADDRSTRLEN];
	dns_addr_str(a, addr, sizeof(addr));
	strlcpy_sp(r->domain, addr, sizeof(r->domain));
	r->port = port;
	r->mx.n = r->n_hosts = 1;
	strlcpy_sp(r->host[0].mx.host, addr, sizeof(r->host[0].mx.host));
	r->host[0].addrs.n = 1;
	r->host[0].dane = DNS_DANE_NONE;
	return true;
}

/* Can host h be tried at this level? A failed TLSA lookup rules a host
 * out for dane only (RFC 7672 2.1.1). */
static bool host_usable(const struct dns_route_host *h, enum outbound_tls level)
{
	return dns_addrs_status(&h->addrs) == DNS_OK &&
	       (level != OUTBOUND_TLS_DANE || h->dane != DNS_DANE_FAILED);
}

static void route_verdict(struct outbound *ob, struct odest *d)
{
	const char *why;
	enum outbound_tls level = dest_level(ob, d);

	d->verdict = dns_route_verdict(&d->route, &why);
	if (d->verdict != DNS_VERDICT_DELIVER && level != OUTBOUND_TLS_DANE &&
	    d->route.n_hosts > 0 && !d->route.mx.null_mx) {
		/* The verdict is dane's: other levels ignore failed TLSA. */
		for (size_t i = 0; i < d->route.n_hosts; i++) {
			if (host_usable(&d->route.host[i], level)) {
				d->verdict = DNS_VERDICT_DELIVER;
				why = "an MX host is usable";
			}
		}
	}
	strlcpy_sp(d->why, why, sizeof(d->why));
	d->route_known = true;
	d->route_time = time(NULL);
	log_info("queue: route %s: %s (%s)", d->name,
		 d->verdict == DNS_VERDICT_DELIVER ? "deliver" :
		 d->verdict == DNS_VERDICT_DEFER ? "defer" : "bounce", d->why);
}

static void route_done(void *context)
{
	struct odest *d = context;
	struct outbound *ob = d->ob;

	d->lookup = NULL;
	route_verdict(ob, d);
	dest_kick(ob, d);
}

static void start_lookup(struct outbound *ob, struct odest *d)
{
	const char *error;
	bool relay = is_relay(ob, d);
	unsigned flags = relay && !ob->cfg->relay_mx ? DNS_ROUTE_NO_MX : 0;

	dns_route_clear(&d->route);
	if (literal_route(d->name, dest_port(ob, d), &d->route)) {
		d->verdict = DNS_VERDICT_DELIVER;
		strlcpy_sp(d->why, "an address", sizeof(d->why));
		d->route_known = true;
		d->route_time = time(NULL);
		return;
	}
	d->lookup = dns_lookup_route(ob->dns, d->name, dest_port(ob, d), flags,
				     &d->route, route_done, d, &error);
	if (d->lookup == NULL) {
		memset(&d->route, 0, sizeof(d->route));
		d->verdict = DNS_VERDICT_DEFER;
		strlcpy_sp(d->why, error, sizeof(d->why));
		d->route_known = true;
		d->route_time = time(NULL);
	}
}

static bool route_fresh(const struct odest *d)
{
	return d->route_known &&
	       (d->n_conns > 0 || time(NULL) - d->route_time < OUTBOUND_ROUTE_TTL_SECS);
}

/* ---- connections ------------------------------------------------------------ */

static void conn_free(struct oconn *c)
{
	struct outbound *ob = c->ob;
	struct odest *d = c->dest;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ob->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ob->n_conns--;
	if (--d->n_conns == 0)
		d->hosts_exhausted = false;
	if (c->was_ready)
		d->n_conns_ready--;
	else
		d->n_connecting--;
	smtpc_free(&c->smtpc);
	free(c);
	odest_kick_all(ob);
}

static void conn_open(struct outbound *ob, struct odest *d)
{
	struct oconn *c = xcalloc(1, sizeof(*c));

	c->ob = ob;
	c->dest = d;
	log_new_session_id(c->id);
	c->next = ob->conns;
	if (ob->conns != NULL)
		ob->conns->prev = c;
	ob->conns = c;
	ob->n_conns++;
	d->n_conns++;
	d->n_connecting++;
	conn_try(c);
}

/* A destination: bounce or defer by its route, or open connections. */
static void dest_kick(struct outbound *ob, struct odest *d)
{
	if (ob->stopping || d->n_ready == 0 || d->lookup != NULL)
		return;
	if (!route_fresh(d)) {
		start_lookup(ob, d);
		if (d->lookup != NULL)
			return;
	}
	if (d->verdict == DNS_VERDICT_BOUNCE) {
		const char *status = d->route.mx.null_mx ? "556 5.1.10" :
				     d->route.mx.answer.status == DNS_NXDOMAIN ? "550 5.1.2" :
				     "550 5.4.4";
		fail_ready(ob, d, QUEUE_RCPT_BOUNCED, errfmt("%s %s: %s", status,
							     d->name, d->why));
		return;
	}
	if (d->verdict == DNS_VERDICT_DEFER) {
		fail_ready(ob, d, QUEUE_RCPT_DEFERRED, errfmt("%s: %s", d->name, d->why));
		return;
	}
	/* No more connections while the ones that work are the only way. */
	while (!d->hosts_exhausted && d->n_connecting < d->n_ready &&
	       d->n_conns < ob->cfg->outbound_max_per_destination &&
	       ob->n_conns < ob->cfg->outbound_max_connections)
		conn_open(ob, d);
}

void odest_kick_all(struct outbound *ob)
{
	for (struct odest *d = ob->dests; d != NULL; d = d->next) {
		if (ob->n_conns >= ob->cfg->outbound_max_connections)
			return;
		if (d->n_ready > 0)
			dest_kick(ob, d);
	}
}

/* The route is exhausted for c: give up on it; the last connection of a
 * destination that got nowhere defers what is ready. */
static void conn_exhausted(struct oconn *c)
{
	struct odest *d = c->dest;
	struct outbound *ob = c->ob;

	if (c->last_error[0] == '\0')
		strlcpy_sp(c->last_error, "no MX host could be tried", sizeof(c->last_error));
	if (d->n_conns_ready == 0 && d->n_connecting == 1 && d->n_ready > 0)
		fail_ready(ob, d, QUEUE_RCPT_DEFERRED, c->last_error);
	else if (d->n_conns_ready > 0)
		d->hosts_exhausted = true;   /* the working connections carry on */
	conn_free(c);
}

static void tls_text(const struct oconn *c, char *out, size_t size)
{
	const char *version = smtpc_tls_version(c->smtpc);

	if (version[0] == '\0')
		out[0] = '\0';
	else
		snprintf(out, size, "%s/%s/%s", version, smtpc_tls_cipher(c->smtpc),
			 smtpc_tls_auth(c->smtpc));
}

static bool has_8bit(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return true;
	}
	return false;
}

/* The results of one transaction, per recipient (RFC 5321 4.2.1: 2xx
 * done, 4xx try again, 5xx never). */
static void txn_results(struct oconn *c, const struct smtpc_txn *t)
{
	struct ojob *job = c->job;
	struct omsg *m = job->msg;
	char tls[QUEUE_TLS_MAX + 1];
	double delay = difftime(time(NULL), m->env->created);

	tls_text(c, tls, sizeof(tls));
	for (size_t i = 0; i < job->n; i++) {
		const struct smtpc_reply *r = &t->data;
		if (t->mail.code != 0 && t->mail.code / 100 != 2)
			r = &t->mail;
		else if (t->rcpt[i].code != 0 && t->rcpt[i].code / 100 != 2)
			r = &t->rcpt[i];
		enum queue_rcpt_state st =
			r->code / 100 == 2 ? QUEUE_RCPT_DELIVERED :
			r->code / 100 == 5 ? QUEUE_RCPT_BOUNCED : QUEUE_RCPT_DEFERRED;
		const char *reply = r->text[0] != '\0' ? r->text : "no reply";
		log_info("%s smtpc %s queue_id=%s to=<%s> relay=%s tls=%s auth=%s "
			 "delay=%.0f reply=\"%s\"", c->id, queue_rcpt_state_name(st),
			 m->env->id, log_value(m->env->rcpts[job->rcpts[i]].address),
			 c->relay, tls[0] != '\0' ? tls : "none",
			 smtpc_tls_auth(c->smtpc), delay, log_value(reply));
		omsg_result(c->ob, m, &job->rcpts[i], 1, st, c->relay, tls, reply);
	}
}

/* What the remote cannot take: too big for its SIZE (RFC 1870), or an
 * address that needs SMTPUTF8 it lacks (RFC 6531 3.2). NULL: fine. */
static const char *refusal(const struct oconn *c, const struct ojob *job,
			   bool *utf8_r)
{
	const struct queue_env *env = job->msg->env;
	uint64_t limit = smtpc_size_limit(c->smtpc);
	bool utf8 = has_8bit(env->sender);

	for (size_t i = 0; i < job->n && !utf8; i++)
		utf8 = has_8bit(env->rcpts[job->rcpts[i]].address);
	*utf8_r = utf8;
	if (limit > 0 && env->size > limit)
		return errfmt("552 5.3.4 message size %" PRIu64 " exceeds the limit of "
			      "%s (%" PRIu64 ")", env->size, c->relay, limit);
	if (utf8 && !(smtpc_extensions(c->smtpc) & SMTPC_EXT_SMTPUTF8))
		return errfmt("553 5.6.7 %s does not support SMTPUTF8, which the "
			      "addresses need", c->relay);
	return NULL;
}

/* The next transaction on c, or QUIT. */
static void conn_next(struct oconn *c)
{
	struct odest *d = c->dest;
	struct ojob *job;
	bool utf8;

	/* A session that is ending (a 421, a lost connection) takes nothing
	 * more: its closed() comes next. */
	if (!smtpc_usable(c->smtpc))
		return;
	while (!c->ob->stopping && c->messages < OUTBOUND_MESSAGES_PER_CONNECTION &&
	       (job = take_job(d)) != NULL) {
		if (job->msg->deleted) {
			/* sealpost queue delete: nothing more is sent. */
			struct omsg *m = job->msg;
			ojob_free(&job);
			omsg_job_done(c->ob, m);
			continue;
		}
		const char *why = refusal(c, job, &utf8);
		if (why != NULL) {
			struct omsg *m = job->msg;
			log_info("%s smtpc bounced queue_id=%s relay=%s reason=\"%s\"",
				 c->id, m->env->id, c->relay, why);
			omsg_result(c->ob, m, job->rcpts, job->n, QUEUE_RCPT_BOUNCED,
				    c->relay, NULL, why);
			ojob_free(&job);
			omsg_job_done(c->ob, m);
			continue;
		}
		const struct queue_env *env = job->msg->env;
		c->job = job;
		c->txn_rcpts = xcalloc(job->n, sizeof(char *));
		for (size_t i = 0; i < job->n; i++)
			c->txn_rcpts[i] = env->rcpts[job->rcpts[i]].address;
		memset(&c->txn, 0, sizeof(c->txn));
		c->txn.from = env->sender;
		c->txn.rcpts = (const char *const *)c->txn_rcpts;
		c->txn.n_rcpts = job->n;
		c->txn.fd = job->msg->msg_fd;
		c->txn.offset = env->offset;
		c->txn.size = env->size;
		c->txn.body_8bit = (env->flags & QUEUE_F_8BITMIME) != 0;
		c->txn.smtputf8 = utf8 && (env->flags & QUEUE_F_SMTPUTF8);
		smtpc_send(c->smtpc, &c->txn);
		return;
	}
	c->quitting = true;
	smtpc_quit(c->smtpc);
}

static void on_ready(void *ctx, struct smtpc *s)
{
	struct oconn *c = ctx;

	if (!c->was_ready) {
		c->was_ready = true;
		c->dest->n_connecting--;
		c->dest->n_conns_ready++;
	}
	conn_next(c);
}

static void on_txn_done(void *ctx, struct smtpc *s, struct smtpc_txn *t)
{
	struct oconn *c = ctx;
	struct ojob *job = c->job;
	struct omsg *m = job->msg;

	txn_results(c, t);
	free(t->rcpt);
	t->rcpt = NULL;
	x_free(&c->txn_rcpts);
	c->job = NULL;
	c->messages++;
	ojob_free(&job);
	omsg_job_done(c->ob, m);
	/* The next transaction once these results are written. */
	if (!t->session_failed && !omsg_wait_written(m, c))
		conn_next(c);
}

void oconn_written(struct oconn *c)
{
	if (c->smtpc != NULL && c->job == NULL && !c->quitting)
		conn_next(c);
}

static void on_closed(void *ctx, struct smtpc *s, const struct smtpc_end *e)
{
	struct oconn *c = ctx;
	struct smtpc_end copy = *e, *end = &copy;   /* e dies with the session */

	omsg_unwait(c);
	smtpc_free(&c->smtpc);
	if (c->was_ready) {
		if (!end->ok)
			log_info("%s smtpc session ended relay=%s error=\"%s\"", c->id,
				 c->relay, log_value(end->text));
		conn_free(c);
		return;
	}
	const char *stage = smtpc_stage_name(end->stage);
	bool named = strncmp(end->text, stage, strlen(stage)) == 0 &&
		     end->text[strlen(stage)] == ':';   /* "connect: ..." */
	strlcpy_sp(c->last_error, named ? errfmt("%s: %s", c->relay, end->text) :
		   errfmt("%s: %s: %s", c->relay, stage, end->text),
		   sizeof(c->last_error));
	log_info("%s smtpc not delivering relay=%s stage=%s error=\"%s\"", c->id,
		 c->relay, smtpc_stage_name(end->stage), log_value(end->text));
	if (c->ob->stopping) {
		conn_free(c);
		return;
	}
	/* may: a failed handshake is tried again without TLS (Postfix). */
	if (end->tls_handshake_failed && c->policy.tls == SMTPC_TLS_MAY &&
	    !c->plaintext_retry) {
		c->plaintext_retry = true;
		conn_try(c);
		return;
	}
	c->plaintext_retry = false;
	c->addr_i++;
	conn_try(c);
}

static const struct smtpc_callbacks oconn_callbacks = {
	.ready = on_ready,
	.txn_done = on_txn_done,
	.closed = on_closed,
};

static socklen_t make_sockaddr(const struct dns_addr *a, uint16_t port,
			       struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = a->u.v6;
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	s4->sin_addr = a->u.v4;
	return sizeof(*s4);
}

/* RFC 7672 3.1: only DANE-TA and DANE-EE records go to the verifier. */
static size_t usable_tlsa(const struct dns_tlsa_result *t, struct tls_tlsa *out,
			  size_t max)
{
	size_t n = 0;
	const char *why;

	for (size_t i = 0; i < t->n && n < max; i++) {
		if (!dns_tlsa_usable(&t->rr[i], &why))
			continue;
		out[n++] = (struct tls_tlsa){ t->rr[i].usage, t->rr[i].selector,
					      t->rr[i].mtype, t->rr[i].data, t->rr[i].len };
	}
	return n;
}

/* Connect to the address after the last one tried (or the same one for a
 * plaintext retry); when none is left, the connection is exhausted. */
static void conn_try(struct oconn *c)
{
	struct outbound *ob = c->ob;
	struct odest *d = c->dest;
	enum outbound_tls level = dest_level(ob, d);
	bool auth = is_relay(ob, d) && ob->auth_user != NULL;

	while (c->host_i < d->route.n_hosts) {
		const struct dns_route_host *h = &d->route.host[c->host_i];
		outbound_policy(level, h, auth, &c->policy);
		if (!host_usable(h, level) || !c->policy.usable ||
		    c->addr_i >= h->addrs.n) {
			if (c->addr_i == 0)
				log_info("%s smtpc skipping host=%s reason=\"%s\"", c->id,
					 h->mx.host, c->policy.usable ? "no address" :
					 c->policy.why);
			c->host_i++;
			c->addr_i = 0;
			continue;
		}
		const struct dns_addr *a = &h->addrs.addr[c->addr_i];
		char text[INET6_ADDRSTRLEN];
		struct sockaddr_storage ss;
		struct tls_tlsa tlsa[SMTPC_TLSA_MAX];
		socklen_t len = make_sockaddr(a, dest_port(ob, d), &ss);
		unsigned char bin[16];
		bool literal = inet_pton(AF_INET, h->mx.host, bin) == 1 ||
			       inet_pton(AF_INET6, h->mx.host, bin) == 1;
		snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u", h->mx.host,
			 dns_addr_str(a, text, sizeof(text)), dest_port(ob, d));
		struct tls_client_params tp = {
			.sni = literal ? NULL : h->mx.host, .auth = c->policy.auth,
			.host = h->mx.host, .domain = is_relay(ob, d) ? NULL : d->name,
			.tlsa = tlsa, .n_tlsa = usable_tlsa(&h->tlsa, tlsa, SMTPC_TLSA_MAX),
		};
		struct smtpc_params p = {
			.addr = (struct sockaddr *)&ss, .addr_len = len,
			.host = h->mx.host, .helo = ob->cfg->hostname,
			.tls = c->plaintext_retry ? SMTPC_TLS_NONE : c->policy.tls,
			.tls_ctx = ob->tls_ctx, .tls_params = &tp,
			.auth_user = auth ? ob->auth_user : NULL,
			.auth_pass = auth ? ob->auth_pass : NULL, .log_id = c->id,
		};
		const char *error;
		log_info("%s smtpc connecting relay=%s tls=%s%s", c->id, c->relay,
			 c->plaintext_retry ? "none (after a failed handshake at may)" :
			 c->policy.level, auth ? " auth=yes" : "");
		c->smtpc = smtpc_open(ob->base, &p, &oconn_callbacks, c, &error);
		if (c->smtpc != NULL)
			return;
		strlcpy_sp(c->last_error, errfmt("%s: %s", c->relay, error),
			   sizeof(c->last_error));
		c->addr_i++;
	}
	conn_exhausted(c);
}

/* ---- stop and cleanup ------------------------------------------------------------ */

void odest_stop_all(struct outbound *ob)
{
	for (struct odest *d = ob->dests; d != NULL; d = d->next) {
		struct ojob *job;
		/* Ready transactions stay as they are on disk: the next start
		 * tries them. */
		while ((job = take_job(d)) != NULL)
			ojob_free(&job);
		dns_route_cancel(&d->lookup);
	}
	for (struct oconn *c = ob->conns; c != NULL; c = c->next) {
		if (c->smtpc == NULL)
			continue;
		omsg_unwait(c);
		if (!c->was_ready)
			smtpc_abort(c->smtpc);
		else if (c->job == NULL && !c->quitting) {
			c->quitting = true;
			smtpc_quit(c->smtpc);
		}
	}
}

void odest_abort_all(struct outbound *ob)
{
	for (struct oconn *c = ob->conns; c != NULL; c = c->next) {
		if (c->smtpc != NULL)
			smtpc_abort(c->smtpc);
	}
}

void odest_gc(struct outbound *ob)
{
	struct odest **pp = &ob->dests;
	time_t now = time(NULL);

	while (*pp != NULL) {
		struct odest *d = *pp;
		if (d->n_ready == 0 && d->n_conns == 0 && d->lookup == NULL &&
		    now - d->route_time >= OUTBOUND_ROUTE_TTL_SECS) {
			*pp = d->next;
			dns_route_clear(&d->route);
			free(d->name);
			free(d);
			continue;
		}
		pp = &d->next;
	}
}

void odest_free_all(struct outbound *ob)
{
	while (ob->dests != NULL) {
		struct odest *d = ob->dests;
		struct ojob *job;
		ob->dests = d->next;
		while ((job = take_job(d)) != NULL)
			ojob_free(&job);
		dns_route_cancel(&d->lookup);
		dns_route_clear(&d->route);
		free(d->name);
		free(d);
	}
}
