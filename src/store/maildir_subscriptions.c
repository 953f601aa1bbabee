/* maildir_subscriptions.c — the "subscriptions" file in the mailbox root.
 *
 * We write Dovecot's version 1 format: one mUTF-7 name a line, '/' between
 * levels. We read that, version 1 files written with '.' as the separator
 * (Dovecot's Maildir++ default; '.' never occurs inside our names), and
 * Dovecot 2.3's version 2 ("V\t2\n\n", levels separated by tabs). Lines that
 * are not valid names are skipped. Changes replace the file atomically
 * under the folders lock. */
#include "store/maildir_private.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The subscriptions file is a list of names: this bounds it generously. */
#define MAILDIR_SUBSCRIPTIONS_MAX (4u * 1024 * 1024)
#define DOVECOT_V2_HEADER "V\t2\n\n"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line of the file as a normalised name, or NULL to skip it. */
static char *line_to_name(char *line, bool v2)
{
	const char *error;

	if (v2 && strchr(line, '\001') != NULL)
		return NULL;  /* tab-escaped: never a valid name of ours */
	for (char *p = line; *p != '\0'; p++) {
		if (*p == (v2 ? '\t' : '.'))
			*p = MAILDIR_SEP;
	}
	return maildir_name_normalize(line, &error);
}

static int read_subscriptions(const char *root, char ***names_r,
			      size_t *count_r, const char **error_r)
{
	char *path = fs_join(root, MAILDIR_SUBSCRIPTIONS_NAME), *data = NULL;
	char **v = xcalloc(1, sizeof(*v)), *save = NULL;
	size_t len, n = 0;
	int ret = -1;

	if (!fs_exists(path)) {
		ret = 0;
		goto out;
	}
	if (fs_read_file(path, MAILDIR_SUBSCRIPTIONS_MAX, &data, &len, error_r) < 0)
		goto out;
	bool v2 = strncmp(data, DOVECOT_V2_HEADER, strlen(DOVECOT_V2_HEADER)) == 0;
	char *text = v2 ? data + strlen(DOVECOT_V2_HEADER) : data;
	for (char *line = strtok_r(text, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char *name = line_to_name(line, v2);
		if (name == NULL)
			continue;
		v = xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = name;
		v[n] = NULL;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && strcmp(v[out - 1], v[i]) == 0)
			free(v[i]);
		else
			v[out++] = v[i];
	}
	n = out;
	v[n] = NULL;
	ret = 0;
out:
	free(data);
	free(path);
	if (ret < 0)
		strv_free(&v);
	*names_r = v;
	*count_r = n;
	return ret;
}

int maildir_subscriptions(const char *root, char ***names_r,
			  const char **error_r)
{
	size_t n;
	return read_subscriptions(root, names_r, &n, error_r);
}

static int write_subscriptions(const char *root, char **names, size_t n,
			       const char **error_r)
{
	char *path = fs_join(root, MAILDIR_SUBSCRIPTIONS_NAME);
	struct buf b = { 0 };

	buf_append(&b, "", 0);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s\n", names[i]);
	int ret = fs_write_atomic(path, b.data, b.len, 0600, error_r);
	buf_free(&b);
	free(path);
	return ret;
}

int maildir_subscribe(const char *root, const char *name, bool subscribe,
		      const char **error_r)
{
	char *norm = maildir_name_normalize(name, error_r), **names = NULL;
	size_t n = 0;
	int lock_fd = -1, ret = -1, err;

	if (norm == NULL)
		return -1;
	if (maildir_lock(root, MAILDIR_FOLDERS_LOCK_NAME, false, &lock_fd,
			 error_r) < 0 ||
	    read_subscriptions(root, &names, &n, error_r) < 0)
		goto out;
	char **found = bsearch(&norm, names, n, sizeof(*names), cmp_str);
	if ((found != NULL) == subscribe) {
		ret = 0;  /* nothing to change */
		goto out;
	}
	if (subscribe) {
		names = xrealloc(names, (n + 2) * sizeof(*names));
		names[n++] = xstrdup(norm);
		names[n] = NULL;
		qsort(names, n, sizeof(*names), cmp_str);
	} else {
		free(*found);
		memmove(found, found + 1, (size_t)(names + n - found) * sizeof(*names));
		n--;
	}
	ret = write_subscriptions(root, names, n, error_r);
out:
	err = errno;
	maildir_unlock(&lock_fd);
	strv_free(&names);
	free(norm);
	errno = err;
	return ret;
}
