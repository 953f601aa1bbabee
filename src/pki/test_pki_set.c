/* test_pki_set.c — the configured set: which group serves a name (exact
 * [sni], wildcard as the certificates allow, default), which configured
 * names are not covered, the set's own findings, loading from a config and
 * the certs folder, and the reload that keeps refused replacements out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "pki/pki_set.h"
#include "pki/test_pki_util.h"

/* Material shared by the tests: an intermediate issues every leaf. */
static struct t_chain ch;
static EVP_PKEY *rsa_key, *ec_key, *org_key, *net_key, *com_key;
static X509 *rsa_leaf, *ec_leaf, *org_leaf, *net_leaf, *com_leaf;

static X509 *leaf(EVP_PKEY *key, const char *cn, const char *san)
{
	return t_cert(key, cn, false, ch.inter, ch.int_key, -1, 365, san);
}

static int setup(void **state)
{
	t_chain_make(&ch);
	rsa_key = t_rsa_key(2048);
	ec_key = t_ec_key();
	org_key = t_ec_key();
	net_key = t_ec_key();
	com_key = t_ec_key();
	rsa_leaf = leaf(rsa_key, "mail.example.test",
			"DNS:mail.example.test,DNS:imap.example.test");
	ec_leaf = leaf(ec_key, "mail.example.test", "DNS:mail.example.test");
	org_leaf = leaf(org_key, "example.org", "DNS:*.example.org");
	net_leaf = leaf(net_key, "a.example.net", "DNS:a.example.net,DNS:b.example.net");
	com_leaf = leaf(com_key, "smtp.example.com", "DNS:smtp.example.com");
	return 0;
}

static int teardown(void **state)
{
	EVP_PKEY *keys[] = { rsa_key, ec_key, org_key, net_key, com_key };
	X509 *certs[] = { rsa_leaf, ec_leaf, org_leaf, net_leaf, com_leaf };

	for (size_t i = 0; i < N_ELEMENTS(keys); i++) {
		EVP_PKEY_free(keys[i]);
		X509_free(certs[i]);
	}
	t_chain_free(&ch);
	return 0;
}

static size_t entry(struct pki_set *set, const char *name, X509 *cert,
		    EVP_PKEY *key, const char *setting, unsigned line)
{
	return pki_set_add_entry(set, name, t_pair(name, cert, key, ch.inter, NULL),
				 NULL, setting, line);
}

/* hostname = mail.example.test          (line 1)
 * certificate = mail, mail-ec           (line 2)
 * [sni]
 * *.example.org = org                   (line 4)
 * x.example.org = com                   (line 5)
 * *.example.net = net                   (line 6)
 * Mail.Example.COM = com                (line 7)
 * gone.example.org = gone               (line 8, not loadable)
 * imap.example.org = org                (line 9, shares org's group) */
static struct pki_set *make_set(void)
{
	struct pki_set *set = pki_set_new("/etc/s.conf", "mail.example.test", 1, 2);
	size_t e[2], g_org, g_com, g_net, g_gone;

	e[0] = entry(set, "mail", rsa_leaf, rsa_key, "certificate", 2);
	e[1] = entry(set, "mail-ec", ec_leaf, ec_key, "certificate", 2);
	assert_int_equal(pki_set_add_group(set, e, 2), 0);
	e[0] = entry(set, "org", org_leaf, org_key, "[sni] *.example.org", 4);
	g_org = pki_set_add_group(set, e, 1);
	pki_set_add_sni(set, "*.example.org", g_org, 4);
	e[0] = entry(set, "com", com_leaf, com_key, "[sni] x.example.org", 5);
	g_com = pki_set_add_group(set, e, 1);
	pki_set_add_sni(set, "x.example.org", g_com, 5);
	e[0] = entry(set, "net", net_leaf, net_key, "[sni] *.example.net", 6);
	g_net = pki_set_add_group(set, e, 1);
	pki_set_add_sni(set, "*.example.net", g_net, 6);
	pki_set_add_sni(set, "Mail.Example.COM", g_com, 7);
	e[0] = pki_set_add_entry(set, "gone", NULL, "certs/gone.crt: No such file "
				 "or directory", "[sni] gone.example.org", 8);
	g_gone = pki_set_add_group(set, e, 1);
	pki_set_add_sni(set, "gone.example.org", g_gone, 8);
	assert_true(pki_set_find_entry(set, "org", &e[0]));
	assert_int_equal(pki_set_add_group(set, e, 1), g_org);
	pki_set_add_sni(set, "imap.example.org", g_org, 9);
	assert_int_equal(set->n_groups, 5);
	assert_int_equal(set->n_failed, 1);
	return set;
}

static const char *group_first(const struct pki_set *set, size_t g)
{
	return set->entries[set->groups[g].entries[0]].name;
}

static void test_select(void **state)
{
	static const struct {
		const char *host;
		enum pki_match match;
		const char *pair;      /* first pair of the group */
		const char *sni;       /* the entry, or NULL */
	} cases[] = {
		{ NULL, PKI_MATCH_DEFAULT, "mail", NULL },
		{ "", PKI_MATCH_DEFAULT, "mail", NULL },
		{ "mail.example.test", PKI_MATCH_DEFAULT, "mail", NULL },
		{ "unknown.example", PKI_MATCH_DEFAULT, "mail", NULL },
		/* A wildcard entry whose certificate covers the name. */
		{ "a.example.org", PKI_MATCH_WILDCARD, "org", "*.example.org" },
		{ "A.Example.ORG.", PKI_MATCH_WILDCARD, "org", "*.example.org" },
		/* RFC 6125: one label, never the parent itself. */
		{ "example.org", PKI_MATCH_DEFAULT, "mail", NULL },
		{ "a.b.example.org", PKI_MATCH_DEFAULT, "mail", NULL },
		/* The exact entry wins over the wildcard, even uncovered. */
		{ "x.example.org", PKI_MATCH_EXACT, "com", "x.example.org" },
		{ "imap.example.org", PKI_MATCH_EXACT, "org", "imap.example.org" },
		/* As far as net's certificate allows. */
		{ "a.example.net", PKI_MATCH_WILDCARD, "net", "*.example.net" },
		{ "c.example.net", PKI_MATCH_DEFAULT, "mail", NULL },
		{ "mail.example.com", PKI_MATCH_EXACT, "com", "mail.example.com" },
		{ "gone.example.org", PKI_MATCH_EXACT, "gone", "gone.example.org" },
		/* A configured wildcard looked up as a name: its own entry. */
		{ "*.example.net", PKI_MATCH_EXACT, "net", "*.example.net" },
	};
	struct pki_set *set = make_set();

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct pki_selection sel;
		pki_set_select(set, cases[i].host, &sel);
		if (sel.match != cases[i].match ||
		    strcmp(group_first(set, sel.group), cases[i].pair) != 0 ||
		    (cases[i].sni == NULL) != (sel.sni == NULL) ||
		    (sel.sni != NULL && strcmp(sel.sni->host, cases[i].sni) != 0))
			fail_msg("%s: match %d via %s (%s), expected %d via %s (%s)",
				 cases[i].host != NULL ? cases[i].host : "(none)",
				 sel.match, group_first(set, sel.group),
				 sel.sni != NULL ? sel.sni->host : "-", cases[i].match,
				 cases[i].pair, cases[i].sni != NULL ? cases[i].sni : "-");
	}
	pki_set_free(&set);
	assert_null(set);
}

static void test_group_covers(void **state)
{
	struct pki_set *set = make_set();
	unsigned loaded;

	assert_int_equal(pki_group_covers(set, 0, "mail.example.test", &loaded), 3);
	assert_int_equal(loaded, 3);
	/* Only the RSA pair names imap.example.test. */
	assert_int_equal(pki_group_covers(set, 0, "imap.example.test", &loaded), 1);
	assert_int_equal(pki_group_covers(set, 0, "other.example.test", NULL), 0);
	assert_int_equal(pki_group_covers(set, 4, "gone.example.org", &loaded), 0);
	assert_int_equal(loaded, 0);
	pki_set_free(&set);
}

static void test_names_and_uncovered(void **state)
{
	static const struct {
		const char *name, *setting;
		unsigned line;
		bool uncovered;
	} want[] = {
		{ "mail.example.test", "hostname", 1, false },
		{ "*.example.org", "[sni]", 4, false },
		{ "x.example.org", "[sni]", 5, true },
		{ "*.example.net", "[sni]", 6, true },     /* only a. and b. */
		{ "mail.example.com", "[sni]", 7, true },
		{ "gone.example.org", "[sni]", 8, false }, /* its load error says it */
		{ "imap.example.org", "[sni]", 9, false },
	};
	struct pki_set *set = make_set();
	struct pki_name_status *names;
	size_t n = pki_set_names(set, &names);

	assert_int_equal(n, N_ELEMENTS(want));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(names[i].name, want[i].name);
		assert_string_equal(names[i].setting, want[i].setting);
		assert_int_equal(names[i].line, want[i].line);
		if (pki_name_uncovered(&names[i]) != want[i].uncovered)
			fail_msg("%s: uncovered %d", names[i].name, !want[i].uncovered);
	}
	free(names);
	n = pki_set_uncovered(set, &names);
	assert_int_equal(n, 3);
	assert_string_equal(names[0].name, "x.example.org");
	assert_string_equal(names[1].name, "*.example.net");
	assert_string_equal(names[2].name, "mail.example.com");
	free(names);
	pki_set_free(&set);

	/* The hostname named in [sni] too is listed once, as the hostname. */
	set = pki_set_new(NULL, "mail.example.org", 0, 0);
	size_t e = entry(set, "org", org_leaf, org_key, "certificate", 0);
	pki_set_add_sni(set, "MAIL.example.org", pki_set_add_group(set, &e, 1), 3);
	n = pki_set_names(set, &names);
	assert_int_equal(n, 1);
	assert_string_equal(names[0].setting, "hostname");
	assert_int_equal(names[0].sel.match, PKI_MATCH_EXACT);
	free(names);
	pki_set_free(&set);
}

static void test_set_check(void **state)
{
	struct pki_set *set = make_set();
	struct t_findings fs = { 0 };
	size_t e[2];

	/* dup.example.org = org, net: two ECDSA pairs in one group. */
	assert_true(pki_set_find_entry(set, "org", &e[0]));
	assert_true(pki_set_find_entry(set, "net", &e[1]));
	pki_set_add_sni(set, "dup.example.org", pki_set_add_group(set, e, 2), 10);
	assert_int_equal(pki_set_check(set, t_collect, &fs), 1);
	assert_int_equal(t_count(&fs, PKI_ERROR), 1);
	assert_string_equal(t_find(&fs, PKI_ERROR, "same key type"),
			    "[sni] dup.example.org: pairs org and net both have "
			    "ECDSA keys, and a TLS server serves one pair per key "
			    "type (list one RSA and one ECDSA pair)");
	assert_string_equal(fs.file[0], "/etc/s.conf:2");
	assert_string_equal(fs.tag[0], "names differ");
	assert_string_equal(fs.text[0], "certificate: pairs mail and mail-ec do "
			    "not cover the same names (only mail covers: "
			    "imap.example.test; only mail-ec covers: -), and a client "
			    "gets either by the signature algorithms it supports");
	assert_string_equal(fs.file[1], "/etc/s.conf:10");
	/* Uncovered names, one warning each, naming their line. */
	assert_int_equal(fs.n, 6);
	assert_string_equal(fs.file[2], "/etc/s.conf:5");
	assert_string_equal(fs.text[2], "[sni] x.example.org: no pair covers it; "
			    "it is served by com (DNS:smtp.example.com)");
	assert_string_equal(fs.file[3], "/etc/s.conf:6");
	assert_string_equal(fs.text[3], "[sni] *.example.net: no pair covers it; "
			    "it is served by net (DNS:a.example.net, DNS:b.example.net) "
			    "(hosts under example.net that the pairs cover still get "
			    "them, the others get the default pair)");
	assert_string_equal(fs.file[4], "/etc/s.conf:7");
	assert_string_equal(fs.file[5], "/etc/s.conf:10");
	assert_string_equal(fs.text[5], "[sni] dup.example.org: net "
			    "(DNS:a.example.net, DNS:b.example.net) does not cover it, "
			    "while org does: clients that pick the other key type get "
			    "a certificate for other names");
	for (size_t i = 2; i < fs.n; i++)
		assert_string_equal(fs.tag[i], "not covered");
	pki_set_free(&set);
}

/* ---- loading --------------------------------------------------------- */

static void save(const char *dir, const char *name, X509 *cert, EVP_PKEY *key)
{
	struct pki_pair *pair = t_pair(name, cert, key, ch.inter, NULL);
	const char *error = NULL;

	if (pki_store_save(dir, pair, NULL, true, &error) < 0)
		fail_msg("%s", error);
	pki_pair_free(&pair);
}

static void test_load(void **state)
{
	char *dir = t_tmpdir();
	char *certs = fs_join(dir, "certs");
	char *conf = xasprintf(
		"hostname = mail.example.test\n"
		"certs_dir = certs\n"
		"certificate = mail, mail-ec\n"
		"[sni]\n"
		"*.example.org = org\n"
		"mail.example.com = org, mail-ec\n"
		"a.example.net = mail-ec, nope\n");
	char *path = t_write(dir, "s.conf", conf, strlen(conf));
	struct config *cfg;
	struct pki_set *set;
	struct t_findings fs = { 0 };
	const char *error;

	save(certs, "mail", rsa_leaf, rsa_key);
	save(certs, "mail-ec", ec_leaf, ec_key);
	save(certs, "org", org_leaf, org_key);
	assert_int_equal(config_load(path, true, &cfg, &error), 0);
	/* The only error: nope cannot be loaded. The test CA is unknown. */
	assert_int_equal(pki_set_load(cfg, time(NULL), t_collect, &fs, &set), 1);
	assert_int_equal(set->n_entries, 4);          /* each pair once */
	assert_int_equal(set->n_failed, 1);
	assert_int_equal(set->n_groups, 4);
	assert_int_equal(set->n_sni, 3);
	assert_string_equal(set->entries[1].name, "mail-ec");
	assert_string_equal(set->entries[1].setting, "certificate");
	assert_int_equal(set->entries[1].line, 3);
	assert_string_equal(set->entries[3].name, "nope");
	assert_null(set->entries[3].pair);
	assert_string_equal(set->entries[3].error,
			    errfmt("%s/nope.crt: No such file or directory", certs));
	assert_string_equal(t_find(&fs, PKI_ERROR, "unusable"),
			    errfmt("[sni] a.example.net: pair 'nope' cannot be used: "
				   "%s/nope.crt: No such file or directory", certs));
	assert_non_null(t_find(&fs, PKI_WARNING, "unknown issuer"));
	assert_non_null(t_find(&fs, PKI_OK, "ok"));
	for (size_t i = 0; i < fs.n; i++) {
		if (strcmp(fs.tag[i], "unusable") == 0)
			assert_string_equal(fs.file[i], errfmt("%s:7", path));
	}
	/* The same pair in the default list and in [sni] is one entry. */
	assert_int_equal(set->groups[2].entries[1], set->groups[0].entries[1]);
	assert_string_equal(set->hostname, "mail.example.test");
	assert_int_equal(set->hostname_line, 1);
	assert_int_equal(set->certificate_line, 3);
	/* Served as configured. */
	struct pki_selection sel;
	pki_set_select(set, "www.example.org", &sel);
	assert_int_equal(sel.match, PKI_MATCH_WILDCARD);
	assert_string_equal(group_first(set, sel.group), "org");
	pki_set_free(&set);
	config_free(&cfg);

	/* certificate = mail alone: as before, one pair, one group. */
	memset(&fs, 0, sizeof(fs));
	cfg = config_defaults(dir);
	free(cfg->certs_dir);
	cfg->certs_dir = xstrdup(certs);
	assert_int_equal(pki_set_load(cfg, time(NULL), NULL, NULL, &set), 0);
	assert_int_equal(set->n_entries, 1);
	assert_int_equal(set->n_groups, 1);
	assert_non_null(set->entries[0].pair);
	assert_int_equal(fs.n, 0);
	pki_set_free(&set);
	config_free(&cfg);
	free(path);
	free(conf);
	free(certs);
	t_rmdir(&dir);
}

/* ---- reload ---------------------------------------------------------- */

/* certificate = mail, mail-ec; [sni] *.example.org = org */
static struct pki_set *reload_set(X509 *mail_cert, EVP_PKEY *mail_key,
				  struct pki_pair *mail_ec, struct pki_pair *org)
{
	struct pki_set *set = pki_set_new("/etc/s.conf", "mail.example.test", 1, 2);
	size_t e[2];

	e[0] = entry(set, "mail", mail_cert, mail_key, "certificate", 2);
	e[1] = pki_set_add_entry(set, "mail-ec", mail_ec, mail_ec == NULL ?
				 "certs/mail-ec.crt: no certificate found" : NULL,
				 "certificate", 2);
	pki_set_add_group(set, e, 2);
	e[0] = pki_set_add_entry(set, "org", org, org == NULL ?
				 "certs/org.key: No such file or directory" : NULL,
				 "[sni] *.example.org", 4);
	pki_set_add_sni(set, "*.example.org", pki_set_add_group(set, e, 1), 4);
	return set;
}

static void test_reload(void **state)
{
	EVP_PKEY *new_key = t_ec_key();
	X509 *renewed = leaf(new_key, "mail.example.test", "DNS:mail.example.test");
	struct pki_set *current = reload_set(rsa_leaf, rsa_key,
		t_pair("mail-ec", ec_leaf, ec_key, ch.inter, NULL),
		t_pair("org", org_leaf, org_key, ch.inter, NULL));
	struct pki_set *next;
	struct t_findings fs = { 0 };

	/* Nothing changed: nothing to say. */
	next = reload_set(rsa_leaf, rsa_key,
			  t_pair("mail-ec", ec_leaf, ec_key, ch.inter, NULL),
			  t_pair("org", org_leaf, org_key, ch.inter, NULL));
	assert_int_equal(pki_set_reload(next, current, time(NULL), t_collect, &fs), 0);
	assert_int_equal(fs.n, 0);
	pki_set_free(&next);

	/* mail-ec renewed (new key): swapped in. org half-written (new
	 * certificate, old key): refused, the running org stays. */
	next = reload_set(rsa_leaf, rsa_key,
			  t_pair("mail-ec", renewed, new_key, ch.inter, NULL),
			  t_pair("org", org_leaf, new_key, ch.inter, NULL));
	assert_int_equal(pki_set_reload(next, current, time(NULL), t_collect, &fs), 1);
	assert_ptr_equal(next->entries[1].pair->cert, renewed);
	assert_false(next->entries[1].kept);
	assert_ptr_equal(next->entries[2].pair->key, org_key);
	assert_true(next->entries[2].kept);
	assert_string_equal(t_find(&fs, PKI_OK, "replaced"), errfmt("pair mail-ec "
			    "replaced: now valid until %s",
			    pki_time_text(X509_get0_notAfter(renewed))));
	assert_int_equal(t_count(&fs, PKI_ERROR), 1);
	assert_string_equal(t_find(&fs, PKI_ERROR, "refused"), errfmt("the new "
			    "pair org is refused (key does not match certificate "
			    "certs/org.crt); the running pair keeps serving, valid "
			    "until %s", pki_time_text(X509_get0_notAfter(org_leaf))));
	pki_set_free(&next);

	/* Unloadable files: refused, kept, no longer counted as failed. */
	memset(&fs, 0, sizeof(fs));
	next = reload_set(rsa_leaf, rsa_key, NULL,
			  t_pair("org", org_leaf, org_key, ch.inter, NULL));
	assert_int_equal(next->n_failed, 1);
	assert_int_equal(pki_set_reload(next, current, time(NULL), t_collect, &fs), 1);
	assert_int_equal(next->n_failed, 0);
	assert_true(next->entries[1].kept);
	assert_null(next->entries[1].error);
	assert_ptr_equal(next->entries[1].pair->cert, ec_leaf);
	assert_int_equal(fs.n, 1);
	assert_string_equal(fs.file[0], "certs/mail-ec.crt");
	assert_non_null(strstr(fs.text[0], "the new pair mail-ec is refused "
			       "(certs/mail-ec.crt: no certificate found); the "
			       "running pair keeps serving"));
	pki_set_free(&next);

	/* mail's RSA pair replaced by an ECDSA one: mail-ec is ECDSA too. */
	memset(&fs, 0, sizeof(fs));
	next = reload_set(renewed, new_key,
			  t_pair("mail-ec", ec_leaf, ec_key, ch.inter, NULL),
			  t_pair("org", org_leaf, org_key, ch.inter, NULL));
	assert_int_equal(pki_set_reload(next, current, time(NULL), t_collect, &fs), 1);
	assert_true(next->entries[0].kept);
	assert_ptr_equal(next->entries[0].pair->key, rsa_key);
	assert_non_null(strstr(t_find(&fs, PKI_ERROR, "refused"), "the new pair "
			       "mail is refused (its key is ECDSA P-256 like the "
			       "key of pair mail-ec, and both serve certificate: a "
			       "TLS server serves one pair per key type)"));
	/* The narrower names are said, not refused. */
	assert_non_null(t_find(&fs, PKI_WARNING, "name dropped"));
	pki_set_free(&next);
	pki_set_free(&current);
	X509_free(renewed);
	EVP_PKEY_free(new_key);
}

/* A pair the running set does not serve: judged like at start. */
static void test_reload_new_names(void **state)
{
	struct pki_set *current = pki_set_new(NULL, "mail.example.test", 0, 0);
	struct pki_set *next = reload_set(rsa_leaf, rsa_key,
		t_pair("mail-ec", ec_leaf, ec_key, ch.inter, NULL), NULL);
	struct t_findings fs = { 0 };
	size_t e = entry(current, "mail", rsa_leaf, rsa_key, "certificate", 0);

	pki_set_add_group(current, &e, 1);
	assert_int_equal(pki_set_reload(next, current, time(NULL), t_collect, &fs), 0);
	assert_string_equal(t_find(&fs, PKI_ERROR, "unusable"), "[sni] *.example.org: "
			    "pair 'org' cannot be used: certs/org.key: No such file "
			    "or directory");
	assert_non_null(t_find(&fs, PKI_WARNING, "unknown issuer"));  /* mail-ec */
	assert_int_equal(next->n_failed, 1);
	pki_set_free(&next);
	pki_set_free(&current);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_group_covers),
		cmocka_unit_test(test_names_and_uncovered),
		cmocka_unit_test(test_set_check),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_reload_new_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
