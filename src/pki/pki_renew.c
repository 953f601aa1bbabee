/* pki_renew.c — a pair's life: the expiry schedule, and the validation of
 * a replacement before it is swapped in.
 *
 * Certificates are renewed more and more often; what goes wrong is a
 * renewal that did not happen (nobody was warned) or one that broke the
 * pair (a mismatched key, an expired file, a truncated chain). The first is
 * the schedule below, which a server walks with pki_expiry_due() to log
 * each step once; the second is pki_pair_validate(), which a reload runs
 * before it lets a new pair replace the one being served. */
#include "pki/pki_private.h"

#include <string.h>

#include <openssl/err.h>

/* The warning steps of enum pki_expiry, in days left (rounded up). */
static const unsigned expiry_step_days[] = {
	[PKI_EXPIRY_NONE] = 0,
	[PKI_EXPIRY_30] = PKI_EXPIRY_WARN_DAYS,
	[PKI_EXPIRY_14] = PKI_EXPIRY_FAIL_DAYS,
	[PKI_EXPIRY_7] = 7,
	[PKI_EXPIRY_3] = 3,
	[PKI_EXPIRY_1] = 1,
	[PKI_EXPIRY_EXPIRED] = 0,
};

unsigned pki_expiry_days(enum pki_expiry step)
{
	return step <= PKI_EXPIRY_EXPIRED ? expiry_step_days[step] : 0;
}

enum pki_expiry pki_cert_expiry(X509 *cert, time_t now)
{
	const ASN1_TIME *na = X509_get0_notAfter(cert);
	long left;
	int cmp = X509_cmp_time(na, &now);

	ERR_clear_error();
	if (cmp < 0)
		return PKI_EXPIRY_EXPIRED;
	left = pki_days_until(na, now);
	for (int step = PKI_EXPIRY_1; step >= PKI_EXPIRY_30; step--) {
		if (left <= (long)expiry_step_days[step])
			return (enum pki_expiry)step;
	}
	return PKI_EXPIRY_NONE;
}

/* Is a's notAfter before b's? */
static bool expires_before(X509 *a, X509 *b)
{
	bool before = ASN1_TIME_compare(X509_get0_notAfter(a),
					X509_get0_notAfter(b)) < 0;
	ERR_clear_error();
	return before;
}

enum pki_expiry pki_pair_expiry(const struct pki_pair *pair, time_t now,
				X509 **first_r)
{
	X509 *first = pair->cert;

	for (int i = 0; i < sk_X509_num(pair->chain); i++) {
		X509 *cert = sk_X509_value(pair->chain, i);
		if (expires_before(cert, first))
			first = cert;
	}
	if (first_r != NULL)
		*first_r = first;
	return pki_cert_expiry(first, now);
}

/* "certificate" for the leaf, "intermediate 'CN=..'" (errfmt() text). */
static const char *cert_role(const struct pki_pair *pair, X509 *cert)
{
	char *name;
	const char *text;

	if (cert == pair->cert)
		return "certificate";
	name = pki_name_oneline(X509_get_subject_name(cert));
	text = errfmt("intermediate '%s'", name);
	free(name);
	return text;
}

bool pki_expiry_due(const struct pki_pair *pair, time_t now,
		    enum pki_expiry *logged, pki_finding_fn *fn, void *context)
{
	X509 *cert;
	enum pki_expiry step = pki_pair_expiry(pair, now, &cert);
	const ASN1_TIME *na = X509_get0_notAfter(cert);
	struct pki_finding f = { .file = pair->crt_path, .expiry = step };
	long left = pki_days_until(na, now);

	if (step <= *logged) {
		*logged = step;   /* renewed: later steps are due again */
		return false;
	}
	*logged = step;
	if (step == PKI_EXPIRY_EXPIRED) {
		f.severity = PKI_ERROR;
		f.tag = "expired";
		f.text = errfmt("%s of pair %s expired on %s (%ld day%s ago)",
				cert_role(pair, cert), pair->name,
				pki_time_text(na), -left, left == -1 ? "" : "s");
	} else {
		f.severity = PKI_WARNING;
		f.tag = "expires soon";
		f.text = errfmt("%s of pair %s expires on %s (%ld day%s left)",
				cert_role(pair, cert), pair->name,
				pki_time_text(na), left, left == 1 ? "" : "s");
	}
	fn(&f, context);
	return true;
}

/* ---- replacements ---------------------------------------------------- */

/* Warn about each name current covers that next does not. */
static void check_names_kept(const struct pki_pair *current,
			     const struct pki_pair *next,
			     pki_finding_fn *fn, void *context)
{
	char **names = pki_cert_names(current->cert);
	char *now_names = NULL;

	for (size_t i = 0; names[i] != NULL; i++) {
		struct pki_finding f = {
			PKI_WARNING, "name dropped", next->crt_path, NULL,
			PKI_EXPIRY_NONE,
		};
		if (pki_cert_covers_name(next->cert, names[i], NULL))
			continue;
		if (now_names == NULL)
			now_names = pki_cert_sans(next->cert);
		f.text = errfmt("the new certificate does not cover %s, which the "
				"one it replaces covered (its names: %s)", names[i],
				*now_names != '\0' ? now_names : "none");
		fn(&f, context);
	}
	free(now_names);
	strv_free(&names);
}

unsigned pki_pair_validate(const struct pki_pair *current,
			   const struct pki_pair *next, time_t now,
			   pki_finding_fn *fn, void *context)
{
	unsigned errors = pki_pair_check(next, NULL, now, fn, context);

	check_names_kept(current, next, fn, context);
	if (expires_before(next->cert, current->cert)) {
		struct pki_finding f = {
			PKI_WARNING, "older", next->crt_path, NULL, PKI_EXPIRY_NONE,
		};
		char *until = xstrdup(pki_time_text(X509_get0_notAfter(current->cert)));
		f.text = errfmt("the new certificate expires on %s, before the one "
				"it replaces (%s)",
				pki_time_text(X509_get0_notAfter(next->cert)), until);
		free(until);
		fn(&f, context);
	}
	return errors;
}

bool pki_pair_same(const struct pki_pair *a, const struct pki_pair *b)
{
	bool same = X509_cmp(a->cert, b->cert) == 0 &&
		EVP_PKEY_eq(a->key, b->key) == 1 &&
		sk_X509_num(a->chain) == sk_X509_num(b->chain);

	for (int i = 0; same && i < sk_X509_num(a->chain); i++)
		same = X509_cmp(sk_X509_value(a->chain, i),
				sk_X509_value(b->chain, i)) == 0;
	ERR_clear_error();
	return same;
}

struct pki_pair *pki_pair_dup(const struct pki_pair *pair)
{
	struct pki_pair *dup = pki_pair_new(pair->name);

	sk_X509_free(dup->chain);
	dup->chain = X509_chain_up_ref(pair->chain);
	if (dup->chain == NULL)
		abort();   /* out of memory, like xmalloc */
	if (!X509_up_ref(pair->cert) || !EVP_PKEY_up_ref(pair->key))
		abort();
	dup->cert = pair->cert;
	dup->key = pair->key;
	dup->crt_path = pair->crt_path != NULL ? xstrdup(pair->crt_path) : NULL;
	dup->key_path = pair->key_path != NULL ? xstrdup(pair->key_path) : NULL;
	return dup;
}
