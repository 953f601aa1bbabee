/* test_shm.c — shared mappings and the robust lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/shm.h"

struct shared {
	struct shm_lock lock;
	int value;
};

static void test_shared_after_fork(void **state)
{
	const char *error;
	struct shared *sh = shm_map(sizeof(*sh), false, &error);
	int status;

	assert_non_null(sh);
	assert_int_equal(sh->value, 0);
	shm_lock_init(&sh->lock);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shm_lock(&sh->lock);
		sh->value = 42;
		shm_unlock(&sh->lock);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(shm_lock(&sh->lock));
	assert_int_equal(sh->value, 42);
	shm_unlock(&sh->lock);
	shm_unmap(sh, sizeof(*sh));
}

/* A process killed while holding the lock does not hold it forever: the
 * next locker gets it, told that the data may be half-updated, and the
 * lock works normally afterwards. */
static void test_holder_dies(void **state)
{
	const char *error;
	struct shared *sh = shm_map(sizeof(*sh), true, &error);
	int pipefd[2], status;
	char c;

	assert_non_null(sh);
	shm_lock_init(&sh->lock);
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shm_lock(&sh->lock);
		sh->value = 1;
		(void)!write(pipefd[1], "x", 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_false(shm_lock(&sh->lock));
	shm_unlock(&sh->lock);
	assert_true(shm_lock(&sh->lock));
	shm_unlock(&sh->lock);
	close(pipefd[0]);
	close(pipefd[1]);
	shm_unmap(sh, sizeof(*sh));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_after_fork),
		cmocka_unit_test(test_holder_dies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
