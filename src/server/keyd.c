/* keyd.c — the key-holding process (signatures for the workers) and the
 * workers' remote keys (keyd.h).
 *
 * OpenSSL 3 offers two ways to keep a private key out of process: a
 * provider of its own (key management and signature implementations for
 * every key type) or the key-method hooks of RSA_METHOD and EC_KEY_METHOD.
 * The hooks are deprecated in 3.0 but supported through 3.x (keys with a
 * foreign method stay on the legacy path; OpenSMTPD relies on the same),
 * and they are a few dozen lines where a provider is several hundred: this
 * one file uses them, with the deprecation warnings silenced here only. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "server/keyd.h"
#include "server/ipc.h"
#include "server/tls_set.h"
#include "pki/pki_set.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

enum keyd_op {
	KEYD_OP_ECDSA = 1,      /* data: a digest */
	KEYD_OP_RSA_PKCS1,      /* data: a digest of algorithm nid */
	KEYD_OP_RSA_RAW_PSS,    /* data: the EMSA-PSS block */
};

struct keyd_request {
	uint32_t seq;           /* echoed: a late answer is never taken */
	uint32_t op;            /* enum keyd_op */
	uint32_t nid;           /* KEYD_OP_RSA_PKCS1: the digest algorithm */
	uint32_t len;
	unsigned char id[KEYD_ID_SIZE];
	unsigned char data[KEYD_DATA_MAX];
};

struct keyd_response {
	uint32_t seq;
	uint32_t ok;
	uint32_t len;
	unsigned char sig[KEYD_DATA_MAX];
};

void keyd_key_id(EVP_PKEY *key, unsigned char id[KEYD_ID_SIZE])
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	unsigned int n = 0;

	memset(id, 0, KEYD_ID_SIZE);
	if (len > 0)
		EVP_Digest(der, (size_t)len, id, &n, EVP_sha256(), NULL);
	OPENSSL_free(der);
}

/* ===== the key holder ===================================================== */

struct key_entry {
	unsigned char id[KEYD_ID_SIZE];
	EVP_PKEY *key;
	unsigned generation;
};

static struct {
	pthread_rwlock_t lock;
	struct key_entry *keys;
	size_t n;
	unsigned generation;
} table = { .lock = PTHREAD_RWLOCK_INITIALIZER };

/* The keys of a new set replace the table (each a reference of its
 * own); keys of the previous set stay one more generation. */
static void table_set(EVP_PKEY **keys, size_t n)
{
	pthread_rwlock_wrlock(&table.lock);
	unsigned gen = ++table.generation;
	struct key_entry *out = xcalloc(n + table.n + 1, sizeof(*out));
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		keyd_key_id(keys[i], out[m].id);
		EVP_PKEY_up_ref(keys[i]);
		out[m].key = keys[i];
		out[m++].generation = gen;
	}
	for (size_t i = 0; i < table.n; i++) {
		bool again = false;
		for (size_t j = 0; j < n && !again; j++)
			again = memcmp(out[j].id, table.keys[i].id, KEYD_ID_SIZE) == 0;
		if (!again && table.keys[i].generation + 1 == gen)
			out[m++] = table.keys[i];
		else
			EVP_PKEY_free(table.keys[i].key);
	}
	free(table.keys);
	table.keys = out;
	table.n = m;
	pthread_rwlock_unlock(&table.lock);
}

/* The EMSA-PSS shape (RFC 8017 9.1.1): the modulus size, trailer 0xbc,
 * the bits above emBits = modBits - 1 zero. */
static bool pss_shaped(EVP_PKEY *key, const unsigned char *data, size_t len)
{
	int bits = EVP_PKEY_get_bits(key);
	size_t k = (size_t)EVP_PKEY_get_size(key);
	size_t zero_bits = 8 * k - (size_t)(bits - 1);

	if (len != k || data[len - 1] != 0xbc)
		return false;
	for (size_t i = 0; i < zero_bits; i++) {
		if (data[i / 8] & (0x80 >> (i % 8)))
			return false;
	}
	return true;
}

static bool digest_size_ok(size_t len)
{
	return len == 20 || len == 28 || len == 32 || len == 48 || len == 64;
}

/* Check the request against the key, then sign. */
static bool sign_request(EVP_PKEY *key, const struct keyd_request *rq,
			 struct keyd_response *rs)
{
	int type = EVP_PKEY_get_base_id(key);
	const EVP_MD *md = NULL;
	size_t siglen = sizeof(rs->sig);
	bool ok = false;

	switch (rq->op) {
	case KEYD_OP_ECDSA:
		ok = type == EVP_PKEY_EC && digest_size_ok(rq->len);
		break;
	case KEYD_OP_RSA_PKCS1:
		md = EVP_get_digestbynid((int)rq->nid);
		ok = type == EVP_PKEY_RSA && md != NULL &&
		     (size_t)EVP_MD_get_size(md) == rq->len && digest_size_ok(rq->len);
		break;
	case KEYD_OP_RSA_RAW_PSS:
		ok = type == EVP_PKEY_RSA && pss_shaped(key, rq->data, rq->len);
		break;
	}
	if (!ok)
		return false;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1;
	if (ok && rq->op == KEYD_OP_RSA_PKCS1)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
	else if (ok && rq->op == KEYD_OP_RSA_RAW_PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1;
	ok = ok && EVP_PKEY_sign(ctx, rs->sig, &siglen, rq->data, rq->len) == 1;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	rs->len = ok ? (uint32_t)siglen : 0;
	return ok;
}

static void answer(const struct keyd_request *rq, struct keyd_response *rs)
{
	memset(rs, 0, offsetof(struct keyd_response, sig));
	rs->seq = rq->seq;
	if (rq->len > KEYD_DATA_MAX)
		return;
	pthread_rwlock_rdlock(&table.lock);
	for (size_t i = 0; i < table.n; i++) {
		if (memcmp(table.keys[i].id, rq->id, KEYD_ID_SIZE) == 0) {
			rs->ok = sign_request(table.keys[i].key, rq, rs);
			break;
		}
	}
	pthread_rwlock_unlock(&table.lock);
	if (!rs->ok)
		log_warn("keyd refused op=%u len=%u", rq->op, rq->len);
}

/* One worker's channel: requests until it goes away. */
static void *serve_channel(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct keyd_request rq;
	struct keyd_response rs;

	for (;;) {
		ssize_t n = recv(fd, &rq, sizeof(rq), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((size_t)n < offsetof(struct keyd_request, data))
			continue;
		answer(&rq, &rs);
		if (send(fd, &rs, offsetof(struct keyd_response, sig) + rs.len,
			 MSG_NOSIGNAL) < 0)
			break;
	}
	close(fd);
	return NULL;
}

static void add_channel(int fd)
{
	pthread_t t;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, serve_channel, (void *)(intptr_t)fd) != 0) {
		log_error("keyd: cannot start a channel thread");
		close(fd);
	}
	pthread_attr_destroy(&attr);
}

/* ---- the certificate set ------------------------------------------------- */

/* What the key holder serves: the set loaded last, and the expiry step
 * logged for each of its entries. */
static struct {
	struct pki_set *set;
	enum pki_expiry *logged;
} served;

struct report_ctx {
	struct buf *report;
};

static void note_finding(const struct pki_finding *f, void *context)
{
	struct report_ctx *rc = context;

	if (f->severity == PKI_OK)
		return;
	if (f->severity == PKI_ERROR)
		log_error("certificate %s: %s", f->file, f->text);
	else
		log_warn("certificate %s: %s", f->file, f->text);
	if (rc != NULL && rc->report != NULL)
		buf_printf(rc->report, "%s %s: %s\n", f->severity == PKI_ERROR ?
			   "error" : "warning", f->file, f->text);
}

static size_t default_loaded(const struct pki_set *set)
{
	size_t n = 0;
	for (size_t e = 0; e < set->groups[0].n_entries; e++)
		n += set->entries[set->groups[0].entries[e]].pair != NULL;
	return n;
}

/* Load the set of cfg: at start every pair must load; on a reload each
 * replacement is validated against the running pair (pki_set_reload). */
static int load_set(const struct config *cfg, uint32_t mode,
		    struct pki_set **set_r, struct report_ctx *rc,
		    const char **error_r)
{
	struct pki_set *set;
	time_t now = time(NULL);

	if (mode == KEYD_LOAD_START) {
		pki_set_load(cfg, now, note_finding, rc, &set);
		for (size_t i = 0; i < set->n_entries; i++) {
			if (set->entries[i].pair == NULL) {
				*error_r = errfmt("%s", set->entries[i].error);
				pki_set_free(&set);
				return -1;
			}
		}
	} else {
		pki_set_load(cfg, now, NULL, NULL, &set);
		pki_set_reload(set, served.set, now, note_finding, rc);
		if (default_loaded(set) == 0) {
			*error_r = "the default certificate cannot be served; "
				   "keeping every pair as it was";
			pki_set_free(&set);
			return -1;
		}
	}
	pki_set_check(set, note_finding, rc);
	*set_r = set;
	return 0;
}

/* The set in service becomes set: its keys in the table, the expiry steps
 * logged carried over by name. */
static void serve_set(struct pki_set *set)
{
	EVP_PKEY **keys = xcalloc(set->n_entries + 1, sizeof(*keys));
	enum pki_expiry *logged = xcalloc(set->n_entries + 1, sizeof(*logged));
	size_t n = 0;

	for (size_t i = 0; i < set->n_entries; i++) {
		size_t old;
		if (set->entries[i].pair != NULL)
			keys[n++] = set->entries[i].pair->key;
		if (served.set != NULL &&
		    pki_set_find_entry(served.set, set->entries[i].name, &old))
			logged[i] = served.logged[old];
	}
	table_set(keys, n);
	free(keys);
	pki_set_free(&served.set);
	free(served.logged);
	served.set = set;
	served.logged = logged;
}

static void check_expiry(void)
{
	for (size_t i = 0; served.set != NULL && i < served.set->n_entries; i++) {
		const struct pki_pair *p = served.set->entries[i].pair;
		if (p != NULL)
			pki_expiry_due(p, time(NULL), &served.logged[i],
				       note_finding, NULL);
	}
}

/* IPC_KEYD_LOAD: u32 mode, str config path. The answer, IPC_KEYD_LOADED:
 * u32 ok, str error, str report, then the pairs for the workers. */
static void handle_load(int ctl, const struct buf *b)
{
	struct ipc_cursor c;
	struct buf report = { 0 }, out = { 0 };
	struct report_ctx rc = { &report };
	struct config *cfg = NULL;
	struct pki_set *set = NULL;
	const char *error = NULL;

	ipc_cursor_init(&c, b->data, b->len);
	uint32_t mode = ipc_get_u32(&c);
	char *path = ipc_get_str(&c);
	int ret = path == NULL ? -1 : config_load(path, true, &cfg, &error);
	if (path == NULL)
		error = "damaged request";
	if (ret == 0)
		ret = load_set(cfg, mode, &set, &rc, &error);
	ipc_put_u32(&out, ret == 0);
	ipc_put_str(&out, ret == 0 ? "" : error);
	ipc_put_str(&out, report.data != NULL ? report.data : "");
	if (ret == 0) {
		serve_set(set);
		tls_set_encode_pairs(set, &out);
		check_expiry();
	}
	if (ipc_send(ctl, IPC_KEYD_LOADED, out.data, out.len, -1, &error) < 0)
		log_error("keyd: %s", error);
	config_free(&cfg);
	free(path);
	buf_free(&report);
	buf_free(&out);
}

static void keyd_main(int ctl)
{
	struct buf b = { 0 };
	const char *error;

	/* Nothing of the master's but its channel: no listener, no other
	 * child's channel. */
	fs_close_all_except(&ctl, 1);
	prctl(PR_SET_NAME, "sealpost-keyd");
	prctl(PR_SET_PDEATHSIG, SIGTERM);   /* never outlive the master */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	for (;;) {
		uint32_t type;
		int fd = -1;
		if (ipc_recv(ctl, &type, &b, &fd, -1, &error) < 0)
			break;   /* the master is gone */
		if (type == IPC_KEYS_CLIENT && fd >= 0)
			add_channel(fd);
		else if (type == IPC_KEYD_LOAD)
			handle_load(ctl, &b);
		else if (type == IPC_KEYD_EXPIRY)
			check_expiry();
		else if (fd >= 0)
			close(fd);
	}
	buf_free(&b);
	_exit(0);
}

int keyd_spawn(pid_t *pid_r, int *ctl_r, const char **error_r)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*error_r = errfmt("keyd: socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		*error_r = errfmt("keyd: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close(sv[0]);
		keyd_main(sv[1]);
	}
	close(sv[1]);
	*pid_r = pid;
	*ctl_r = sv[0];
	return 0;
}

int keyd_load(int ctl, enum keyd_load_mode mode, const char *config_path,
	      struct buf *pairs_r, struct buf *report, const char **error_r)
{
	struct buf b = { 0 };
	struct ipc_cursor c;
	uint32_t type;
	int ret = -1;

	ipc_put_u32(&b, mode);
	ipc_put_str(&b, config_path);
	if (ipc_send(ctl, IPC_KEYD_LOAD, b.data, b.len, -1, error_r) < 0 ||
	    ipc_recv(ctl, &type, &b, NULL, KEYD_LOAD_TIMEOUT_MS, error_r) < 0)
		goto out;
	if (type != IPC_KEYD_LOADED) {
		*error_r = "keyd: unexpected answer";
		goto out;
	}
	ipc_cursor_init(&c, b.data, b.len);
	uint32_t ok = ipc_get_u32(&c);
	char *error = ipc_get_str(&c), *lines = ipc_get_str(&c);
	if (c.bad) {
		*error_r = "keyd: damaged answer";
	} else if (!ok) {
		*error_r = errfmt("%s", error);
	} else {
		pairs_r->len = 0;
		buf_append(pairs_r, c.p, c.left);
		ret = 0;
	}
	if (report != NULL && lines != NULL)
		buf_append(report, lines, strlen(lines));
	free(error);
	free(lines);
out:
	buf_free(&b);
	return ret;
}

void keyd_expiry(int ctl)
{
	const char *error;

	if (ipc_send(ctl, IPC_KEYD_EXPIRY, NULL, 0, -1, &error) < 0)
		log_error("%s", error);
}

int keyd_new_channel(int ctl, int *worker_fd_r, const char **error_r)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		*error_r = errfmt("keyd: socketpair: %s", strerror(errno));
		return -1;
	}
	int ret = ipc_send(ctl, IPC_KEYS_CLIENT, NULL, 0, sv[1], error_r);
	close(sv[1]);
	if (ret < 0) {
		close(sv[0]);
		return -1;
	}
	*worker_fd_r = sv[0];
	return 0;
}

/* ===== the workers' remote keys =========================================== */

struct remote {
	int fd;
	uint32_t seq;
	unsigned char id[KEYD_ID_SIZE];
};

static int rsa_index = -1, ec_index = -1;
static RSA_METHOD *rsa_method;
static EC_KEY_METHOD *ec_method;
static pthread_once_t methods_once = PTHREAD_ONCE_INIT;

static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;
	do {
		r = poll(&p, 1, KEYD_TIMEOUT_MS);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

/* One signature from the key holder; its length, or -1. */
static int remote_sign(struct remote *r, enum keyd_op op, int nid,
		       const unsigned char *data, size_t len,
		       unsigned char *out, size_t out_max)
{
	struct keyd_request rq;
	struct keyd_response rs;

	if (r == NULL || len > KEYD_DATA_MAX)
		return -1;
	memset(&rq, 0, offsetof(struct keyd_request, data));
	rq.seq = ++r->seq;
	rq.op = op;
	rq.nid = (uint32_t)nid;
	rq.len = (uint32_t)len;
	memcpy(rq.id, r->id, KEYD_ID_SIZE);
	memcpy(rq.data, data, len);
	if (wait_fd(r->fd, POLLOUT) < 0 ||
	    send(r->fd, &rq, offsetof(struct keyd_request, data) + len,
		 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return -1;
	for (;;) {
		if (wait_fd(r->fd, POLLIN) < 0)
			return -1;
		ssize_t n = recv(r->fd, &rs, sizeof(rs), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < (ssize_t)offsetof(struct keyd_response, sig))
			return -1;
		if (rs.seq != rq.seq)
			continue;            /* an answer to a request given up */
		if (!rs.ok || rs.len > out_max ||
		    (size_t)n != offsetof(struct keyd_response, sig) + rs.len)
			return -1;
		memcpy(out, rs.sig, rs.len);
		return (int)rs.len;
	}
}

static int rsa_sign_hook(int type, const unsigned char *m, unsigned int m_len,
			 unsigned char *sig, unsigned int *sig_len, const RSA *rsa)
{
	int n = remote_sign(RSA_get_ex_data(rsa, rsa_index), KEYD_OP_RSA_PKCS1,
			    type, m, m_len, sig, (size_t)RSA_size(rsa));
	if (n < 0)
		return 0;
	*sig_len = (unsigned int)n;
	return 1;
}

static int rsa_priv_enc_hook(int flen, const unsigned char *from,
			     unsigned char *to, RSA *rsa, int padding)
{
	if (padding != RSA_NO_PADDING || flen < 0)
		return -1;
	return remote_sign(RSA_get_ex_data(rsa, rsa_index), KEYD_OP_RSA_RAW_PSS,
			   0, from, (size_t)flen, to, (size_t)RSA_size(rsa));
}

/* Nothing is ever decrypted with a server key here (no RSA key exchange). */
static int rsa_priv_dec_hook(int flen, const unsigned char *from,
			     unsigned char *to, RSA *rsa, int padding)
{
	return -1;
}

static int ec_sign_hook(int type, const unsigned char *dgst, int dlen,
			unsigned char *sig, unsigned int *siglen,
			const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	int n = remote_sign(EC_KEY_get_ex_data(ec, ec_index), KEYD_OP_ECDSA, 0,
			    dgst, (size_t)dlen, sig, (size_t)ECDSA_size(ec));
	if (n < 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *ec_sign_sig_hook(const unsigned char *dgst, int dlen,
				   const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	unsigned char der[KEYD_DATA_MAX];
	unsigned int len = 0;
	const unsigned char *p = der;

	if ((size_t)ECDSA_size(ec) > sizeof(der) ||
	    ec_sign_hook(0, dgst, dlen, der, &len, kinv, r, ec) != 1)
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)len);
}

static void free_remote(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			long argl, void *argp)
{
	free(ptr);
}

static void make_methods(void)
{
	rsa_index = RSA_get_ex_new_index(0, NULL, NULL, NULL, free_remote);
	ec_index = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, free_remote);
	rsa_method = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	RSA_meth_set1_name(rsa_method, "sealpost remote key");
	RSA_meth_set_sign(rsa_method, rsa_sign_hook);
	RSA_meth_set_priv_enc(rsa_method, rsa_priv_enc_hook);
	RSA_meth_set_priv_dec(rsa_method, rsa_priv_dec_hook);
	ec_method = EC_KEY_METHOD_new(EC_KEY_get_default_method());
	EC_KEY_METHOD_set_sign(ec_method, ec_sign_hook, NULL, ec_sign_sig_hook);
}

static struct remote *remote_new(EVP_PKEY *pub, int fd)
{
	struct remote *r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	keyd_key_id(pub, r->id);
	return r;
}

static EVP_PKEY *remote_rsa(EVP_PKEY *pub, int fd)
{
	const RSA *src = EVP_PKEY_get0_RSA(pub);
	const BIGNUM *n, *e;
	RSA *rsa = RSA_new();
	EVP_PKEY *key = EVP_PKEY_new();

	RSA_get0_key(src, &n, &e, NULL);
	if (rsa == NULL || key == NULL ||
	    RSA_set0_key(rsa, BN_dup(n), BN_dup(e), NULL) != 1 ||
	    RSA_set_method(rsa, rsa_method) != 1 ||
	    RSA_set_ex_data(rsa, rsa_index, remote_new(pub, fd)) != 1 ||
	    EVP_PKEY_assign_RSA(key, rsa) != 1) {
		RSA_free(rsa);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

static EVP_PKEY *remote_ec(EVP_PKEY *pub, int fd)
{
	const EC_KEY *src = EVP_PKEY_get0_EC_KEY(pub);
	EC_KEY *ec = EC_KEY_new();
	EVP_PKEY *key = EVP_PKEY_new();

	if (ec == NULL || key == NULL ||
	    EC_KEY_set_group(ec, EC_KEY_get0_group(src)) != 1 ||
	    EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(src)) != 1 ||
	    EC_KEY_set_method(ec, ec_method) != 1 ||
	    EC_KEY_set_ex_data(ec, ec_index, remote_new(pub, fd)) != 1 ||
	    EVP_PKEY_assign_EC_KEY(key, ec) != 1) {
		EC_KEY_free(ec);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

EVP_PKEY *keyd_remote_key(EVP_PKEY *pub, int fd)
{
	pthread_once(&methods_once, make_methods);
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		return remote_rsa(pub, fd);
	case EVP_PKEY_EC:
		return remote_ec(pub, fd);
	default:
		return NULL;
	}
}
