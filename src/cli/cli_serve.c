/* cli_serve.c — sealpost serve. */
#include "cli/cli.h"
#include "server/server.h"

int cmd_serve(const struct cli_command *cmd, struct cli_args *args)
{
	struct config *cfg;

	if (cli_load_config(args, true, &cfg) < 0)
		return CLI_FAIL;
	return server_run(cfg) == 0 ? CLI_OK : CLI_FAIL;
}
