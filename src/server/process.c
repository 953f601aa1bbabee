/* process.c — the process environment of `sealpost serve`: the serving
 * user and the privilege drop, the data folders it must own, the open
 * files limit. Runs in the master before the workers are forked. */
#include "server/server_private.h"
#include "queue/queue.h"
#include "store/deliver.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int server_lookup_user(const struct config *cfg, uid_t *uid_r, gid_t *gid_r,
		       bool *drop_r)
{
	*drop_r = false;
	if (geteuid() != 0) {
		if (cfg->user != NULL) {
			struct passwd *pw = getpwnam(cfg->user);
			if (pw == NULL || pw->pw_uid != geteuid())
				log_warn("user=%s ignored: not started as root",
					 cfg->user);
		}
		return 0;
	}
	if (cfg->user == NULL) {
		log_warn("running as root: set 'user' in %s to drop privileges",
			 cfg->path);
		return 0;
	}
	struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL)
		return sp_print_error("%s: user: no such user '%s'", cfg->path, cfg->user);
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	*drop_r = pw->pw_uid != 0;
	return 0;
}

int server_drop_privileges(const struct config *cfg, uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return sp_print_error("user %s: cannot drop privileges: %s", cfg->user,
			    strerror(errno));
	if (setuid(0) == 0)
		return sp_print_error("user %s: privileges were not dropped", cfg->user);
	log_info("privileges dropped user=%s uid=%u", cfg->user, (unsigned)uid);
	return 0;
}

int server_prepare_dirs(const struct config *cfg, bool drop, uid_t uid, gid_t gid)
{
	const char *error;
	char *spool = fs_join(cfg->data_dir, DELIVER_SPOOL_DIR);
	int ret = 0;

	if (fs_mkdir_p(spool, 0700, &error) < 0)
		ret = sp_print_error("data_dir: %s", error);
	else if (drop && (chown(cfg->data_dir, uid, gid) < 0 ||
			  chown(spool, uid, gid) < 0))
		ret = sp_print_error("data_dir: %s: %s", cfg->data_dir, strerror(errno));
	if (ret == 0 && queue_prepare(cfg->data_dir, drop, uid, gid, &error) < 0)
		ret = sp_print_error("data_dir: %s", error);
	if (ret == 0)
		spool_cleanup(cfg->data_dir);
	free(spool);
	return ret;
}

/* The spool must be writable by the serving user: looked at with its
 * effective ids (the master keeps root; the workers drop). */
int server_check_writable(const struct config *cfg, uid_t uid, gid_t gid,
			  bool drop)
{
	char *spool = fs_join(cfg->data_dir, DELIVER_SPOOL_DIR);
	int ret = 0, err = 0;

	if (drop && (setegid(gid) < 0 || seteuid(uid) < 0)) {
		ret = sp_print_error("user %s: cannot take its ids: %s", cfg->user,
				     strerror(errno));
	} else if (eaccess(spool, W_OK | X_OK) < 0) {
		err = errno;
	}
	if (drop && (seteuid(0) < 0 || setegid(0) < 0))
		ret = sp_print_error("cannot take back root: %s", strerror(errno));
	if (ret == 0 && err != 0)
		ret = sp_print_error("data_dir: %s: not writable by the serving user: %s",
				     spool, strerror(err));
	free(spool);
	return ret;
}

/* Each connection is a descriptor: take the hard limit, and say when it
 * cannot hold max_connections (plus listeners, pool, files in use). */
void server_raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < cfg->max_connections + SERVER_FD_RESERVE)
		log_warn("open files limit %llu is below max_connections=%llu "
			 "(+%d); raise it (LimitNOFILE, ulimit -n)",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)cfg->max_connections, SERVER_FD_RESERVE);
}
