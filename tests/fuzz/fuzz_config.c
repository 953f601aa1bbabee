/* fuzz_config.c — sealpost.conf parsing (config_load(), libinih underneath)
 * on arbitrary bytes given as the file.
 *
 * Checked beyond "no crash": config_load() either loads or fails with one
 * error line that starts with the file's name; a file with a NUL byte or a
 * line over CONFIG_LINE_MAX bytes (its LF or CRLF not counted) never loads,
 * and "line is longer" is said only of such a file; a loaded config written
 * back as a config file (every setting, lists on continuation lines) loads
 * again to the same values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

/* Load text as a config file held in memory (a memfd named by its
 * /proc/self/fd path). */
static int load_bytes(const void *text, size_t len, struct config **cfg_r,
		      const char **error_r, char path[64])
{
	int fd = memfd_create("sealpost.conf", MFD_CLOEXEC);
	if (fd < 0 || (len > 0 && write(fd, text, len) != (ssize_t)len))
		abort();
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	int ret = config_load(path, true, cfg_r, error_r);
	close(fd);
	return ret;
}

/* The longest line of data, without its LF or CRLF. */
static size_t longest_line(const uint8_t *data, size_t size)
{
	size_t longest = 0, start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		size_t len = i - start;
		if (i < size && len > 0 && data[i - 1] == '\r')
			len--;
		if (i == size && len > 0 && data[i - 1] == '\r')
			len--;
		if (len > longest)
			longest = len;
		start = i + 1;
	}
	return longest;
}

static void check_error(const char *path, const char *error, bool too_long)
{
	size_t plen = strlen(path);
	if (error == NULL || strchr(error, '\n') != NULL ||
	    strncmp(error, path, plen) != 0 || error[plen] != ':' ||
	    error[plen + 1] == '\0')
		abort();  /* one line, naming the file */
	const char *p = error + plen + 1;
	if (p[strspn(p, "0123456789")] == ':' &&
	    strncmp(p + strspn(p, "0123456789"), ": line is longer than", 21) == 0 &&
	    !too_long)
		abort();  /* CONFIG_LINE_MAX bytes are allowed */
}

/* A path as the file would give it: relative to the file's folder when it
 * is inside it, so that the line stays as short as the original was. */
static const char *path_value(const struct config *cfg, const char *abs)
{
	size_t dlen = strlen(cfg->dir);
	if (strncmp(abs, cfg->dir, dlen) == 0 && abs[dlen] == '/' &&
	    abs[dlen + 1] != '\0' && abs[dlen + 1] != '/')
		return abs + dlen + 1;
	return abs;
}

/* "key =" then one item per indented continuation line: each line is no
 * longer than the one the item came from. */
static void put_list(struct buf *b, const char *key, char *const *items, size_t n)
{
	buf_printf(b, "%s=\n", key);
	for (size_t i = 0; i < n; i++)
		buf_printf(b, " %s\n", items[i]);
}

static void serialize(const struct config *cfg, struct buf *b)
{
	static const char *const limits[] = {
		"max_message_size", "max_recipients", "max_connections",
		"max_connections_per_ip", "smtp_timeout", "pop3_timeout",
		"imap_timeout", "auth_max_failures",
	};
	const uint64_t values[] = {
		cfg->max_message_size, cfg->max_recipients, cfg->max_connections,
		cfg->max_connections_per_ip, cfg->smtp_timeout, cfg->pop3_timeout,
		cfg->imap_timeout, cfg->auth_max_failures,
	};

	buf_printf(b, "hostname=%s\n", cfg->hostname);
	put_list(b, "domains", cfg->domains, cfg->n_domains);
	buf_printf(b, "data_dir=%s\n", path_value(cfg, cfg->data_dir));
	buf_printf(b, "certs_dir=%s\n", path_value(cfg, cfg->certs_dir));
	buf_printf(b, "certificate=");
	for (size_t i = 0; i < cfg->n_certificates; i++)
		buf_printf(b, "%s%s", i ? "," : "", cfg->certificates[i]);
	buf_printf(b, "\n");
	if (cfg->user != NULL)
		buf_printf(b, "user=%s\n", cfg->user);
	buf_printf(b, "log_level=%s\n", level_names[cfg->log_level]);
	buf_printf(b, "workers=%llu\n[listen]\n", (unsigned long long)cfg->workers);
	for (int s = 0; s < SERVICE_COUNT; s++) {
		char *items[CONFIG_LISTEN_MAX];
		for (size_t i = 0; i < cfg->n_listen[s]; i++)
			items[i] = (char *)cfg->listen[s][i].text;
		if (cfg->n_listen[s] > 0)
			put_list(b, service_infos[s].name, items, cfg->n_listen[s]);
	}
	buf_printf(b, "[tls]\nmin_version=%s\nticket_rotation=%llu\n[sni]\n",
		   cfg->tls_min_version == 0x0304 ? "TLSv1.3" : "TLSv1.2",
		   (unsigned long long)cfg->ticket_rotation);
	for (size_t i = 0; i < cfg->n_sni; i++) {
		/* The first pair on the host's line, the others below. */
		const struct config_sni *e = &cfg->sni[i];
		buf_printf(b, "%s=%s\n", e->host, e->pairs[0]);
		for (size_t k = 1; k < e->n_pairs; k++)
			buf_printf(b, " %s\n", e->pairs[k]);
	}
	buf_printf(b, "[limits]\n");
	for (size_t i = 0; i < N_ELEMENTS(limits); i++)
		buf_printf(b, "%s=%llu\n", limits[i], (unsigned long long)values[i]);
	buf_printf(b, "[outbound]\n");
	if (cfg->outbound_resolver != NULL)
		buf_printf(b, "resolver=%s\n", cfg->outbound_resolver);
	if (cfg->outbound_trust_anchor != NULL)
		buf_printf(b, "trust_anchor=%s\n",
			   path_value(cfg, cfg->outbound_trust_anchor));
}

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool strv_same(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return true;
}

static void check_same(const struct config *a, const struct config *b)
{
	if (!strv_same(a->certificates, a->n_certificates, b->certificates,
		       b->n_certificates) || a->n_sni != b->n_sni ||
	    a->ticket_rotation != b->ticket_rotation ||
	    !str_same(a->outbound_resolver, b->outbound_resolver) ||
	    !str_same(a->outbound_trust_anchor, b->outbound_trust_anchor))
		abort();
	for (size_t i = 0; i < a->n_sni; i++) {
		if (strcmp(a->sni[i].host, b->sni[i].host) != 0 ||
		    !strv_same(a->sni[i].pairs, a->sni[i].n_pairs, b->sni[i].pairs,
			       b->sni[i].n_pairs))
			abort();
	}
	if (!str_same(a->hostname, b->hostname) || a->n_domains != b->n_domains ||
	    !str_same(a->data_dir, b->data_dir) ||
	    !str_same(a->certs_dir, b->certs_dir) ||
	    !str_same(a->certificate, b->certificate) ||
	    !str_same(a->user, b->user) || a->log_level != b->log_level ||
	    a->workers != b->workers || a->tls_min_version != b->tls_min_version ||
	    a->max_message_size != b->max_message_size ||
	    a->max_recipients != b->max_recipients ||
	    a->max_connections != b->max_connections ||
	    a->max_connections_per_ip != b->max_connections_per_ip ||
	    a->smtp_timeout != b->smtp_timeout || a->pop3_timeout != b->pop3_timeout ||
	    a->imap_timeout != b->imap_timeout ||
	    a->auth_max_failures != b->auth_max_failures)
		abort();
	for (size_t i = 0; i < a->n_domains; i++) {
		if (strcmp(a->domains[i], b->domains[i]) != 0)
			abort();
	}
	for (int s = 0; s < SERVICE_COUNT; s++) {
		if (a->n_listen[s] != b->n_listen[s])
			abort();
		for (size_t i = 0; i < a->n_listen[s]; i++) {
			const struct listen_addr *x = &a->listen[s][i], *y = &b->listen[s][i];
			if (strcmp(x->text, y->text) != 0 || x->len != y->len ||
			    memcmp(&x->ss, &y->ss, x->len) != 0)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL, *again = NULL;
	const char *error = NULL;
	char path[64];
	struct buf text = { 0 };

	bool too_long = longest_line(data, size) > CONFIG_LINE_MAX;
	if (load_bytes(data, size, &cfg, &error, path) < 0) {
		check_error(path, error, too_long);
		return 0;
	}
	if (too_long || memchr(data, '\0', size) != NULL)
		abort();  /* never cut or split silently */
	serialize(cfg, &text);
	if (load_bytes(text.data, text.len, &again, &error, path) < 0) {
		fprintf(stderr, "reload failed: %s\n--- written back:\n%.*s---\n",
			error, (int)text.len, text.data);
		abort();  /* what loaded once must load again */
	}
	check_same(cfg, again);
	config_free(&cfg);
	config_free(&again);
	buf_free(&text);
	return 0;
}
