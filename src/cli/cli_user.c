/* cli_user.c — user add, passwd, del, list, test: accounts in data_dir/passwd.
 *
 * Passwords come from --password-file or stdin (cli_password.c), never from
 * the command line. When run as root with `user` set in the config, what
 * these commands create (the passwd file, its lock, the mailbox folders)
 * is chowned to that user and its group, so the server, which drops to
 * it, can read the users and deliver mail. */
#include "auth/passwd.h"
#include "cli/cli.h"
#include "cli/cli_password.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "store/mailbox.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Folders this command creates: private to the server's user. */
#define USER_DIR_MODE 0700

struct user_ctx {
	struct config *cfg;
	char address[ADDRESS_MAX + 1];  /* normalised; "" for none */
	char *passwd_path;
	struct passwd_owner owner;
};

static void user_ctx_free(struct user_ctx *ctx)
{
	config_free(&ctx->cfg);
	x_free(&ctx->passwd_path);
}

/* Root with `user` set: what we create goes to that user and its group. */
static int owner_resolve(const struct config *cfg, struct passwd_owner *owner_r)
{
	memset(owner_r, 0, sizeof(*owner_r));
	if (cfg->user == NULL || geteuid() != 0)
		return 0;
	const struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL) {
		cli_fail("%s: user: no such system user '%s'",
			 cfg->path ? cfg->path : "(defaults)", cfg->user);
		return -1;
	}
	owner_r->set = true;
	owner_r->uid = pw->pw_uid;
	owner_r->gid = pw->pw_gid;
	return 0;
}

static int address_check(const struct config *cfg, const char *address,
			 bool local_domain, char *norm, size_t size)
{
	if (strlen(address) > ADDRESS_MAX || !mailbox_address_valid(address)) {
		cli_fail("'%s' is not a valid address (local@domain; letters, "
			 "digits and . _ + - before the @)", address);
		return -1;
	}
	mailbox_address_normalize(address, norm, size);
	const char *domain = strrchr(norm, '@') + 1;
	if (local_domain && !config_is_local_domain(cfg, domain)) {
		cli_fail("%s: domain %s is not one of the domains in %s",
			 norm, domain, cfg->path ? cfg->path : "the config");
		return -1;
	}
	return 0;
}

/* Load the config and check the address (NULL: the command takes none). */
static int user_ctx_init(const struct cli_args *args, const char *address,
			 bool local_domain, struct user_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	if (cli_load_config(args, true, &ctx->cfg) < 0)
		return -1;
	if ((address != NULL &&
	     address_check(ctx->cfg, address, local_domain, ctx->address,
			   sizeof(ctx->address)) < 0) ||
	    owner_resolve(ctx->cfg, &ctx->owner) < 0) {
		user_ctx_free(ctx);
		return -1;
	}
	ctx->passwd_path = fs_join(ctx->cfg->data_dir, PASSWD_FILE_NAME);
	return 0;
}

/* A folder just made: give it to owner, and make its entry durable. */
static int dir_created(const char *path, const struct passwd_owner *owner,
		       const char **error_r)
{
	if (owner->set && chown(path, owner->uid, owner->gid) < 0) {
		*error_r = errfmt("%s: chown: %s", path, strerror(errno));
		return -1;
	}
	char *parent = fs_dirname(path);
	int ret = fs_fsync_dir(parent, error_r);
	free(parent);
	return ret;
}

/* mkdir -p path, chowning each folder this call creates to owner. */
static int mkdir_owned(const char *path, const struct passwd_owner *owner,
		       const char **error_r)
{
	char *copy = xstrdup(path);
	int ret = 0;

	for (char *p = copy + 1; ret == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, USER_DIR_MODE) == 0) {
			ret = dir_created(copy, owner, error_r);
		} else if (errno != EEXIST) {
			*error_r = errfmt("%s: %s", copy, strerror(errno));
			ret = -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return ret;
}

static int chown_path(const char *path, const struct passwd_owner *owner,
		      const char **error_r)
{
	if (lchown(path, owner->uid, owner->gid) < 0) {
		*error_r = errfmt("%s: chown: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* chown the folders of a Maildir made by maildir_create (not messages). */
static int maildir_chown(const char *dir, const struct passwd_owner *owner,
			 bool subfolder, const char **error_r)
{
	static const char *const parts[] = { "cur", "new", "tmp", "maildirfolder" };
	size_t n = subfolder ? N_ELEMENTS(parts) : N_ELEMENTS(parts) - 1;

	if (chown_path(dir, owner, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char *p = fs_join(dir, parts[i]);
		int ret = chown_path(p, owner, error_r);
		free(p);
		if (ret < 0)
			return -1;
	}
	return 0;
}

/* Create the user's Maildir with its special folders, owned by the
 * server's user. *path_r: its path (new string). */
static int mailbox_make(const struct user_ctx *ctx, char **path_r,
			const char **error_r)
{
	char *root = mailbox_path(ctx->cfg->data_dir, ctx->address);
	char *domain_dir = fs_dirname(root);
	int ret = -1;

	if (mkdir_owned(domain_dir, &ctx->owner, error_r) < 0 ||
	    mailbox_create(ctx->cfg->data_dir, ctx->address, error_r) < 0)
		goto out;
	if (ctx->owner.set) {
		if (maildir_chown(root, &ctx->owner, false, error_r) < 0)
			goto out;
		for (size_t i = 0; i < mailbox_specials_count; i++) {
			char *sub = xasprintf("%s/.%s", root, mailbox_specials[i].name);
			int r = maildir_chown(sub, &ctx->owner, true, error_r);
			free(sub);
			if (r < 0)
				goto out;
		}
	}
	ret = 0;
out:
	free(domain_dir);
	if (ret == 0)
		*path_r = root;
	else
		free(root);
	return ret;
}

/* Is the user in the file right now? A quick look (under the lock) so we
 * can fail before asking for a password; the edit checks again. */
static int user_exists_now(const struct user_ctx *ctx, bool *exists_r)
{
	struct passwd_edit *edit;
	const char *error;

	*exists_r = false;
	if (!fs_exists(ctx->passwd_path))
		return 0;
	if (passwd_edit_begin(ctx->passwd_path, &ctx->owner, &edit, &error) < 0) {
		cli_fail("%s", error);
		return -1;
	}
	*exists_r = passwd_edit_has(edit, ctx->address);
	passwd_edit_free(&edit);
	return 0;
}

/* Read and hash the new password. *hash_r: new string. */
static int new_password_hash(const struct cli_args *args, const char *address,
			     char **hash_r)
{
	struct cli_password pw;
	const char *error;
	char *prompt = xasprintf("New password for %s: ", address);
	int ret = cli_password_read(cli_opt(args, "password-file"), prompt, true, &pw);

	free(prompt);
	if (ret < 0)
		return -1;
	ret = passwd_hash_new(pw.text, hash_r, &error);
	cli_password_clear(&pw);
	if (ret < 0)
		cli_fail("%s", error);
	return ret;
}

int cmd_user_add(const struct cli_command *cmd, struct cli_args *args)
{
	struct user_ctx ctx;
	struct passwd_edit *edit = NULL;
	char *hash = NULL, *mbox = NULL;
	const char *error;
	bool exists, had_mailbox;
	int ret = CLI_FAIL;

	if (user_ctx_init(args, args->pos[0], true, &ctx) < 0)
		return CLI_FAIL;
	if (user_exists_now(&ctx, &exists) < 0)
		goto out;
	if (exists) {
		cli_fail("%s: user already exists in %s", ctx.address, ctx.passwd_path);
		goto out;
	}
	if (new_password_hash(args, ctx.address, &hash) < 0)
		goto out;
	if (mkdir_owned(ctx.cfg->data_dir, &ctx.owner, &error) < 0 ||
	    passwd_edit_begin(ctx.passwd_path, &ctx.owner, &edit, &error) < 0)
		goto fail;
	/* Added meanwhile by someone else: change nothing. */
	if (passwd_edit_add(edit, ctx.address, hash, &error) < 0)
		goto fail;
	mbox = mailbox_path(ctx.cfg->data_dir, ctx.address);
	had_mailbox = fs_exists(mbox);
	x_free(&mbox);
	if (mailbox_make(&ctx, &mbox, &error) < 0 ||
	    passwd_edit_commit(edit, &error) < 0)
		goto fail;
	printf("%s: user added; mailbox %s%s\n", ctx.address, mbox,
	       had_mailbox ? " (existing, kept)" : "");
	ret = CLI_OK;
	goto out;
fail:
	cli_fail("%s", error);
out:
	passwd_edit_free(&edit);
	free(hash);
	free(mbox);
	user_ctx_free(&ctx);
	return ret;
}

int cmd_user_passwd(const struct cli_command *cmd, struct cli_args *args)
{
	struct user_ctx ctx;
	struct passwd_edit *edit = NULL;
	char *hash = NULL;
	const char *error;
	bool exists;
	int ret = CLI_FAIL;

	if (user_ctx_init(args, args->pos[0], true, &ctx) < 0)
		return CLI_FAIL;
	if (user_exists_now(&ctx, &exists) < 0)
		goto out;
	if (!exists) {
		cli_fail("%s: no such user in %s", ctx.address, ctx.passwd_path);
		goto out;
	}
	if (new_password_hash(args, ctx.address, &hash) < 0)
		goto out;
	if (passwd_edit_begin(ctx.passwd_path, &ctx.owner, &edit, &error) < 0 ||
	    passwd_edit_set_hash(edit, ctx.address, hash, &error) < 0 ||
	    passwd_edit_commit(edit, &error) < 0) {
		cli_fail("%s", error);
		goto out;
	}
	printf("%s: password changed\n", ctx.address);
	ret = CLI_OK;
out:
	passwd_edit_free(&edit);
	free(hash);
	user_ctx_free(&ctx);
	return ret;
}

int cmd_user_del(const struct cli_command *cmd, struct cli_args *args)
{
	struct user_ctx ctx;
	struct passwd_edit *edit = NULL;
	const char *error;
	int ret = CLI_FAIL;

	/* No domain check: a domain dropped from the config keeps its users
	 * until they are deleted. */
	if (user_ctx_init(args, args->pos[0], false, &ctx) < 0)
		return CLI_FAIL;
	if (!fs_exists(ctx.passwd_path)) {
		cli_fail("%s: no such user in %s", ctx.address, ctx.passwd_path);
		goto out;
	}
	if (passwd_edit_begin(ctx.passwd_path, &ctx.owner, &edit, &error) < 0 ||
	    passwd_edit_delete(edit, ctx.address, &error) < 0 ||
	    passwd_edit_commit(edit, &error) < 0) {
		cli_fail("%s", error);
		goto out;
	}
	char *mbox = mailbox_path(ctx.cfg->data_dir, ctx.address);
	printf("%s: user deleted\n", ctx.address);
	if (fs_exists(mbox))
		printf("%s: mailbox kept at %s (remove it by hand when it is no "
		       "longer needed)\n", ctx.address, mbox);
	free(mbox);
	ret = CLI_OK;
out:
	passwd_edit_free(&edit);
	user_ctx_free(&ctx);
	return ret;
}

/* problem_cb: each refused or malformed line, "sealpost: FILE:LINE: ...". */
static void print_problem(const char *problem, void *context)
{
	cli_fail("%s", problem);
}

/* A loaded database of ctx's file, problems printed; NULL on failure. */
static struct passwd_db *db_open(const struct user_ctx *ctx)
{
	struct passwd_db *db = passwd_db_new(ctx->passwd_path, print_problem, NULL);
	const char *error;

	if (passwd_db_refresh(db, &error) < 0) {
		cli_fail("%s", error);
		passwd_db_free(&db);
	}
	return db;
}

int cmd_user_list(const struct cli_command *cmd, struct cli_args *args)
{
	struct user_ctx ctx;
	struct passwd_db *db;
	char **addresses;

	if (user_ctx_init(args, NULL, false, &ctx) < 0)
		return CLI_FAIL;
	db = db_open(&ctx);
	user_ctx_free(&ctx);
	if (db == NULL)
		return CLI_FAIL;
	addresses = passwd_db_addresses(db);
	for (char **a = addresses; *a != NULL; a++)
		printf("%s\n", *a);
	strv_free(&addresses);
	passwd_db_free(&db);
	return CLI_OK;
}

int cmd_user_test(const struct cli_command *cmd, struct cli_args *args)
{
	struct user_ctx ctx;
	struct passwd_db *db = NULL;
	struct cli_password pw;
	int ret = CLI_FAIL;

	if (user_ctx_init(args, args->pos[0], false, &ctx) < 0)
		return CLI_FAIL;
	char *prompt = xasprintf("Password for %s: ", ctx.address);
	int r = cli_password_read(cli_opt(args, "password-file"), prompt, false, &pw);
	free(prompt);
	if (r < 0)
		goto out;
	db = db_open(&ctx);
	if (db != NULL) {
		if (passwd_db_verify(db, ctx.address, pw.text, pw.len)) {
			printf("%s: password ok\n", ctx.address);
			ret = CLI_OK;
		} else {
			cli_fail("%s: authentication failed", ctx.address);
		}
	}
	cli_password_clear(&pw);
out:
	passwd_db_free(&db);
	user_ctx_free(&ctx);
	return ret;
}
