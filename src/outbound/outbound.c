/* outbound.c — the engine's life: start, reload, stop (outbound.h). */
#include "outbound/outbound_private.h"
#include "auth/auth.h"
#include "lib/log.h"
#include "lib/util.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <string.h>
#include <unistd.h>

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct outbound *ob = arg;

	outbound_msgs_tick(ob);
	odest_gc(ob);
}

static int make_tls(const struct config *cfg, struct tls_ctx **ctx_r,
		    const char **error_r)
{
	struct tls_client_spec spec = {
		.min_version = cfg->tls_min_version,
		.ca_file = cfg->outbound_ca_file,
	};
	return tls_client_ctx_new(&spec, ctx_r, error_r);
}

int outbound_start(struct event_base *base, const struct config *cfg,
		   struct outbound **ob_r, const char **error_r)
{
	struct outbound *ob = xcalloc(1, sizeof(*ob));
	struct dns_resolver_settings set;
	struct timeval tick = { OUTBOUND_TICK_MS / 1000, (OUTBOUND_TICK_MS % 1000) * 1000 };

	ob->base = base;
	ob->cfg = cfg;
	ob->inotify_fd = -1;
	dns_settings_from_config(cfg, &set);
	if (dns_resolver_create(base, &set, &ob->dns, error_r) < 0 ||
	    make_tls(cfg, &ob->tls_ctx, error_r) < 0) {
		outbound_free(&ob);
		return -1;
	}
	if (auth_init(cfg->data_dir, error_r) < 0)
		log_error("users: %s", *error_r);   /* retried at each lookup */
	ob->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, ob);
	event_add(ob->ev_tick, &tick);
	outbound_msgs_start(ob);
	log_info("queue: started relayhost=%s tls=%s", cfg->relay_host != NULL ?
		 cfg->relay_host : "(none: MX)", outbound_tls_name(cfg->outbound_tls));
	*ob_r = ob;
	return 0;
}

int outbound_reload(struct outbound *ob, const struct config *cfg,
		    const char **error_r)
{
	struct tls_ctx *ctx;

	/* The config in service is always the new one (the old one is freed
	 * at the next reload); only the TLS context may stay the old one. */
	ob->cfg = cfg;
	if (make_tls(cfg, &ctx, error_r) < 0)
		return -1;
	tls_ctx_unref(&ob->tls_ctx);
	ob->tls_ctx = ctx;
	return 0;
}

void outbound_set_auth(struct outbound *ob, const char *user, const char *pass)
{
	free(ob->auth_user);
	if (ob->auth_pass != NULL) {
		OPENSSL_cleanse(ob->auth_pass, strlen(ob->auth_pass));
		free(ob->auth_pass);
	}
	ob->auth_user = user != NULL ? xstrdup(user) : NULL;
	ob->auth_pass = user != NULL ? xstrdup(pass) : NULL;
}

static void on_stop_grace(evutil_socket_t fd, short what, void *arg)
{
	struct outbound *ob = arg;

	if (ob->n_conns > 0) {
		log_info("queue: stop grace over: dropping %u connections", ob->n_conns);
		odest_abort_all(ob);
	}
}

void outbound_stop(struct outbound *ob)
{
	struct timeval grace = { OUTBOUND_STOP_GRACE_SECS, 0 };

	if (ob->stopping)
		return;
	ob->stopping = true;
	event_del(ob->ev_tick);
	if (ob->ev_inotify != NULL)
		event_del(ob->ev_inotify);
	odest_stop_all(ob);
	ob->ev_stop = evtimer_new(ob->base, on_stop_grace, ob);
	event_add(ob->ev_stop, &grace);
}

bool outbound_stopped(const struct outbound *ob)
{
	return ob->n_conns == 0 && ob->loading == 0 && !ob->scanning &&
	       jobs_in_flight() == 0;
}

void outbound_free(struct outbound **obp)
{
	struct outbound *ob = *obp;

	if (ob == NULL)
		return;
	odest_free_all(ob);
	outbound_msgs_free(ob);
	if (ob->ev_tick != NULL)
		event_free(ob->ev_tick);
	if (ob->ev_stop != NULL)
		event_free(ob->ev_stop);
	dns_resolver_free(&ob->dns);
	tls_ctx_unref(&ob->tls_ctx);
	outbound_set_auth(ob, NULL, NULL);
	auth_deinit();
	x_free(obp);
}
