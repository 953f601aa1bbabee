/* pki_pair.c — load a PEM pair from the certs folder. */
#include "pki/pki.h"
#include "lib/util.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

static FILE *open_pem(const char *path, const char **error_r)
{
	FILE *fp = fopen(path, "re");
	if (fp == NULL)
		*error_r = errfmt("%s: %s", path, strerror(errno));
	return fp;
}

int pki_pair_load(const char *certs_dir, const char *name,
		  struct pki_pair **pair_r, const char **error_r)
{
	char *crt = xasprintf("%s/%s.crt", certs_dir, name);
	char *key = xasprintf("%s/%s.key", certs_dir, name);
	struct pki_pair *p = xcalloc(1, sizeof(*p));
	FILE *fp;
	X509 *x;
	int ret = -1;

	p->name = xstrdup(name);
	p->chain = sk_X509_new_null();
	if ((fp = open_pem(crt, error_r)) == NULL)
		goto out;
	p->cert = PEM_read_X509(fp, NULL, NULL, NULL);
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL)
		sk_X509_push(p->chain, x);
	fclose(fp);
	ERR_clear_error();
	if (p->cert == NULL) {
		*error_r = errfmt("%s: no PEM certificate", crt);
		goto out;
	}
	if ((fp = open_pem(key, error_r)) == NULL)
		goto out;
	p->key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	ERR_clear_error();
	if (p->key == NULL) {
		*error_r = errfmt("%s: no unencrypted PEM private key", key);
		goto out;
	}
	if (X509_check_private_key(p->cert, p->key) != 1) {
		ERR_clear_error();
		*error_r = errfmt("%s: key does not match certificate %s", key, crt);
		goto out;
	}
	ret = 0;
out:
	if (ret == 0)
		*pair_r = p;
	else
		pki_pair_free(&p);
	free(crt);
	free(key);
	return ret;
}

void pki_pair_free(struct pki_pair **pp)
{
	struct pki_pair *p = *pp;
	if (p == NULL)
		return;
	X509_free(p->cert);
	sk_X509_pop_free(p->chain, X509_free);
	EVP_PKEY_free(p->key);
	free(p->name);
	x_free(pp);
}
