/* test_sasl.c — PLAIN and LOGIN exchanges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth/sasl.h"

static void test_plain(void **state)
{
	struct sasl *sa = NULL;
	const char *ch = NULL, *error = NULL;

	/* "\0alice@x.test\0pw" */
	assert_int_equal(sasl_begin(&sa, SASL_MECH_PLAIN, "AGFsaWNlQHgudGVzdABwdw==",
				    &ch, &error), SASL_DONE);
	assert_string_equal(sa->user, "alice@x.test");
	assert_int_equal(sa->password_len, 2);
	assert_memory_equal(sa->password, "pw", 2);
	/* authzid equal to the user is fine, another one is not */
	assert_int_equal(sasl_begin(&sa, SASL_MECH_PLAIN,
				    "YWxpY2VAeC50ZXN0AGFsaWNlQHgudGVzdABwdw==", &ch, &error),
			 SASL_DONE);
	assert_int_equal(sasl_begin(&sa, SASL_MECH_PLAIN,
				    "Ym9iQHgudGVzdABhbGljZUB4LnRlc3QAcHc=", &ch, &error),
			 SASL_FAIL);
	/* no initial response: empty challenge, then the response */
	assert_int_equal(sasl_begin(&sa, SASL_MECH_PLAIN, NULL, &ch, &error),
			 SASL_CONTINUE);
	assert_string_equal(ch, "");
	assert_int_equal(sasl_step(sa, "AGFsaWNlQHgudGVzdABwdw==", &ch, &error),
			 SASL_DONE);
	/* malformed */
	assert_int_equal(sasl_begin(&sa, SASL_MECH_PLAIN, "=", &ch, &error), SASL_FAIL);
	assert_int_equal(sasl_begin(&sa, SASL_MECH_PLAIN, "YWJj", &ch, &error), SASL_FAIL);
	assert_int_equal(sasl_begin(&sa, SASL_MECH_PLAIN, "not base64!", &ch, &error),
			 SASL_FAIL);
	assert_string_equal(error, "invalid base64 data");
	sasl_clear(&sa);
	assert_null(sa);                /* wiped and freed */
	sasl_clear(&sa);                /* twice: nothing to do */
}

static void test_login(void **state)
{
	struct sasl *sa = NULL;
	const char *ch = NULL, *error = NULL;

	assert_int_equal(sasl_begin(&sa, SASL_MECH_LOGIN, NULL, &ch, &error),
			 SASL_CONTINUE);
	assert_string_equal(ch, "VXNlcm5hbWU6");
	assert_int_equal(sasl_step(sa, "Ym9i", &ch, &error), SASL_CONTINUE);
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	assert_int_equal(sasl_step(sa, "c2VjcmV0", &ch, &error), SASL_DONE);
	assert_string_equal(sa->user, "bob");
	assert_string_equal(sa->password, "secret");
	/* initial response carries the user; "*" cancels */
	assert_int_equal(sasl_begin(&sa, SASL_MECH_LOGIN, "Ym9i", &ch, &error),
			 SASL_CONTINUE);
	assert_int_equal(sasl_step(sa, "*", &ch, &error), SASL_FAIL);
	assert_true(sa->cancelled);
	sasl_clear(&sa);
}

static void test_mech_names(void **state)
{
	enum sasl_mech m;
	assert_true(sasl_mech_find("plain", SASL_MECH_PLAIN | SASL_MECH_LOGIN, &m));
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_false(sasl_mech_find("LOGIN", SASL_MECH_PLAIN, &m));
	assert_false(sasl_mech_find("CRAM-MD5", SASL_MECH_PLAIN | SASL_MECH_LOGIN, &m));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_mech_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
