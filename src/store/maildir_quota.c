/* maildir_quota.c — a mailbox's usage in its Maildir++ maildirsize file.
 *
 * The file (Courier's Maildir++ quota, also read and written by Dovecot's
 * maildir quota backend and maildrop) is
 *	<bytes>S,<count>C          the limits (only those set)
 *	<bytes> <count>            the usage at the last recalculation
 *	<bytes> <count>            one line per change since: +/- deltas
 * Changes are appended with one O_APPEND write (atomic for such lines), and
 * only when the file exists: it is created by a recalculation, which only
 * a mailbox with a limit gets. A recalculation (a scan of every folder's
 * cur/ and new/ names, sizes from ",S=" or stat: never the messages
 * themselves) happens when the file is missing, unreadable, over
 * MAILDIR_QUOTA_FILE_MAX bytes, older than MAILDIR_QUOTA_RECALC_SECS (the
 * repair for changes made by programs that do not write it), or written
 * for other limits; it replaces the file atomically. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *quota_path(const char *root)
{
	return fs_join(root, MAILDIR_QUOTA_FILE);
}

/* The size a Maildir file name states (",S=<n>" before the info), or
 * false when it states none. */
static bool name_size(const char *name, uint64_t *size_r)
{
	size_t base = maildir_basename_len(name);
	const char *p = strstr(name, ",S=");

	if (p == NULL || (size_t)(p - name) >= base)
		return false;
	p += 3;
	*size_r = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
		*size_r = *size_r * 10 + (uint64_t)(*p - '0');
	return true;
}

/* Add up the messages of dir/sub (cur or new). */
static int scan_sub(const char *dir, const char *sub,
		    struct maildir_quota_usage *u, const char **error_r)
{
	char *path = fs_join(dir, sub);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	struct stat st;

	if (d == NULL) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		free(path);
		if (err == ENOENT)
			return 0;       /* a folder being created or deleted */
		*error_r = errfmt("%s/%s: %s", dir, sub, strerror(err));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t size;
		if (de->d_name[0] == '.')
			continue;
		if (!name_size(de->d_name, &size)) {
			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;       /* gone meanwhile, or not a message */
			size = (uint64_t)st.st_size;
		}
		u->bytes += size;
		u->messages++;
	}
	closedir(d);
	free(path);
	return 0;
}

/* Scan INBOX and every Maildir++ folder (".Name/") of root. */
static int scan(const char *root, struct maildir_quota_usage *u, const char **error_r)
{
	DIR *d = opendir(root);
	struct dirent *de;
	int ret = 0;

	memset(u, 0, sizeof(*u));
	if (d == NULL) {
		*error_r = errfmt("%s: %s", root, strerror(errno));
		return -1;
	}
	if (scan_sub(root, "cur", u, error_r) < 0 || scan_sub(root, "new", u, error_r) < 0)
		ret = -1;
	while (ret == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		char *dir = fs_join(root, de->d_name);
		if (maildir_is_dir(dir) &&
		    (scan_sub(dir, "cur", u, error_r) < 0 ||
		     scan_sub(dir, "new", u, error_r) < 0))
			ret = -1;
		free(dir);
	}
	closedir(d);
	return ret;
}

/* "<bytes>S,<count>C" for limit (empty when none is set). */
static void limits_line(const struct maildir_quota *limit, char *out, size_t size)
{
	int n = 0;

	out[0] = '\0';
	if (limit->bytes > 0)
		n = snprintf(out, size, "%" PRIu64 "S", limit->bytes);
	if (limit->messages > 0)
		snprintf(out + n, size - (size_t)n, "%s%" PRIu64 "C", n > 0 ? "," : "",
			 limit->messages);
}

/* Sum the usage lines of a file whose first line is want_limits; false
 * when the file is not usable as it is. */
static bool parse_file(const char *data, const char *want_limits,
		       struct maildir_quota_usage *u)
{
	const char *nl = strchr(data, '\n');
	int64_t bytes = 0, count = 0;

	if (nl == NULL || (size_t)(nl - data) != strlen(want_limits) ||
	    strncmp(data, want_limits, (size_t)(nl - data)) != 0)
		return false;
	for (const char *p = nl + 1; *p != '\0'; ) {
		long long b, c;
		int used;
		if (sscanf(p, "%lld %lld%n", &b, &c, &used) != 2)
			return false;
		bytes += b;
		count += c;
		p += used;
		if (*p != '\n')
			return false;   /* a torn line: recalculate */
		p++;
	}
	u->bytes = bytes > 0 ? (uint64_t)bytes : 0;
	u->messages = count > 0 ? (uint64_t)count : 0;
	return true;
}

static int recalculate(const char *root, const char *limits,
		       struct maildir_quota_usage *u, const char **error_r)
{
	char *path = quota_path(root);
	char *text;
	int ret;

	if (scan(root, u, error_r) < 0) {
		free(path);
		return -1;
	}
	text = xasprintf("%s\n%" PRIu64 " %" PRIu64 "\n", limits, u->bytes, u->messages);
	ret = fs_write_atomic(path, text, strlen(text), 0600, error_r);
	free(text);
	free(path);
	return ret;
}

int maildir_quota_usage(const char *root, const struct maildir_quota *limit,
			struct maildir_quota_usage *usage_r, const char **error_r)
{
	char limits[64], *path = quota_path(root), *data = NULL;
	struct stat st;
	size_t len;
	const char *ignored;
	bool usable = false;

	limits_line(limit, limits, sizeof(limits));
	if (stat(path, &st) == 0 && st.st_size <= MAILDIR_QUOTA_FILE_MAX &&
	    st.st_mtime + MAILDIR_QUOTA_RECALC_SECS > time(NULL) &&
	    fs_read_file(path, MAILDIR_QUOTA_FILE_MAX, &data, &len, &ignored) == 0)
		usable = parse_file(data, limits, usage_r);
	free(data);
	free(path);
	return usable ? 0 : recalculate(root, limits, usage_r, error_r);
}

bool maildir_quota_allows(const struct maildir_quota *limit,
			  const struct maildir_quota_usage *usage,
			  uint64_t bytes, uint64_t messages)
{
	if (limit->bytes > 0 && usage->bytes + bytes > limit->bytes)
		return false;
	return limit->messages == 0 || usage->messages + messages <= limit->messages;
}

void maildir_quota_add(const char *root, int64_t bytes, int64_t messages)
{
	char *path = quota_path(root), line[64];
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);

	free(path);
	if (fd < 0)
		return;                 /* no file: nobody counts */
	int n = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "\n", bytes,
			 messages);
	/* One write: O_APPEND keeps concurrent lines whole. A failure only
	 * makes the count drift until the next recalculation. */
	if (write(fd, line, (size_t)n) != n)
		log_warn("%s/%s: cannot record a change: %s", root,
			    MAILDIR_QUOTA_FILE, strerror(errno));
	close(fd);
}

void maildir_quota_invalidate(const char *root)
{
	char *path = quota_path(root);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("%s: %s", path, strerror(errno));
	free(path);
}
