/* fuzz_pki_parse.c — `cert import` input parsing on arbitrary bytes: PEM
 * with any blocks and surrounding text, DER certificates, keys, PKCS#7 and
 * PKCS#12, then the inspection the commands run on what was found. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pki/pki_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pki_parse_opts opts = {
		.want_certs = true, .want_keys = true,
		.passphrase = "fuzz", .passphrase_path = "pass.txt",
	};
	struct pki_bundle b;
	const char *error;

	if (size > PKI_FILE_MAX)
		return 0;
	if (pki_bundle_parse("fuzz.pem", data, size, &opts, &b, &error) == 0) {
		for (int i = 0; i < sk_X509_num(b.certs); i++) {
			X509 *cert = sk_X509_value(b.certs, i);
			free(pki_cert_sans(cert));
			free(pki_cert_cn(cert));
			free(pki_name_oneline(X509_get_issuer_name(cert)));
			pki_cert_covers_host(cert, "mail.example.com", NULL);
			pki_cert_covers_host(cert, "192.0.2.1", NULL);
			if (b.key != NULL)
				pki_key_matches(b.key, cert);
		}
		if (sk_X509_num(b.certs) > 0) {
			STACK_OF(X509) *chain, *unused;
			X509 *root;
			pki_chain_build(sk_X509_value(b.certs, 0), b.certs, &chain,
					&root, &unused);
			sk_X509_pop_free(chain, X509_free);
			sk_X509_pop_free(unused, X509_free);
		}
	}
	pki_bundle_free(&b);
	return 0;
}
