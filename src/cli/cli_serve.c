/* cli_serve.c — sealpost serve, and the commands that talk to the running
 * server through its control socket (server.h: SERVER_CONTROL_NAME). */
#include "cli/cli.h"
#include "server/server.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The answer to a control command may take this long (a reload loads and
 * checks every certificate pair). */
#define CLI_CONTROL_TIMEOUT_SECS 60

int cmd_serve(const struct cli_command *cmd, struct cli_args *args)
{
	struct config *cfg;

	if (cli_load_config(args, true, &cfg) < 0)
		return CLI_FAIL;
	return server_run(cfg) == 0 ? CLI_OK : CLI_FAIL;
}

static int control_connect(const struct config *cfg, char **path_r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { CLI_CONTROL_TIMEOUT_SECS, 0 };
	char *path = fs_join(cfg->data_dir, SERVER_CONTROL_NAME);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*path_r = path;
	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		goto fail;
	strlcpy_sp(sa.sun_path, path, sizeof(sa.sun_path));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int cli_control_command(const struct config *cfg, const char *command)
{
	char *path, buf[4096];
	int fd = control_connect(cfg, &path);
	int rc = CLI_FAIL;
	bool done = false;

	if (fd < 0) {
		cli_fail("%s: no running server answers (%s)", path,
			 errno == ENOENT || errno == ECONNREFUSED ?
			 "is sealpost serve running with this config?" : strerror(errno));
		free(path);
		return CLI_FAIL;
	}
	FILE *f = fdopen(fd, "r+");
	fprintf(f, "%s\n", command);
	fflush(f);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		if (strncmp(buf, "done ", 5) == 0) {
			rc = strcmp(buf, "done 0\n") == 0 ? CLI_OK : CLI_FAIL;
			done = true;
			break;
		}
		if (strncmp(buf, "error ", 6) == 0)
			fprintf(stderr, "sealpost: %s", buf + 6);
		else if (strncmp(buf, "warning ", 8) == 0)
			fprintf(stderr, "sealpost: warning: %s", buf + 8);
		else
			fputs(strncmp(buf, "ok ", 3) == 0 ? buf + 3 : buf, stdout);
	}
	if (!done)
		cli_fail("%s: the server did not answer", path);
	fclose(f);
	free(path);
	return rc;
}

int cmd_reload(const struct cli_command *cmd, struct cli_args *args)
{
	struct config *cfg;

	if (cli_load_config(args, true, &cfg) < 0)
		return CLI_FAIL;
	int rc = cli_control_command(cfg, "reload");
	config_free(&cfg);
	return rc;
}
