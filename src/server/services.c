/* services.c — the wiring of services: which protocol serves which
 * listener, and what each worker starts for them. The one place that knows every protocol module; the connection
 * core (src/net) knows none of them. */
#include "server/server_private.h"
#include "net/session.h"
#include "auth/auth.h"
#include "imap/imap.h"
#include "pop3/pop3.h"
#include "smtp/smtp.h"
#include "lib/log.h"
#include "lib/util.h"


const struct session_vfuncs *const server_proto_vfuncs[PROTO_COUNT] = {
	[PROTO_SMTP] = &smtp_vfuncs,
	[PROTO_POP3] = &pop3_vfuncs,
	[PROTO_IMAP] = &imap_vfuncs,
};

int server_check_services(const struct config *cfg)
{
	if (!config_any_listen(cfg))
		return sp_print_error("%s: [listen]: no service is listed; nothing to serve",
			    cfg->path);
	for (int s = 0; s < SERVICE_COUNT; s++) {
		if (cfg->n_listen[s] > 0 &&
		    server_proto_vfuncs[service_infos[s].proto] == NULL)
			return sp_print_error("%s: [listen] %s: %s is not part of this "
				    "sealpost version", cfg->path, service_infos[s].name,
				    proto_name(service_infos[s].proto));
	}
	if (cfg->n_domains == 0)
		return sp_print_error("%s: domains: no local domain is set", cfg->path);
	return 0;
}

void server_services_worker_init(const struct config *cfg)
{
	const char *error;

	if (auth_init(cfg->data_dir, &error) < 0)
		log_error("users: %s", error);   /* retried at each lookup */
	auth_users_watch();
}

void server_services_worker_deinit(void)
{
	auth_deinit();
}
