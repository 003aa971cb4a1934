/* Start-up shared by every program: --help, --config and the log level. */
#ifndef CHAT_PROGRAM_H
#define CHAT_PROGRAM_H

/* Loads the program's configuration from argv (--config FILE) and applies log level.
 * Prints usage (with the settings) for --help. Returns 0 to continue, 1 when the program
 * should exit 0 (help shown), -1 on error (message printed). Unknown options are left
 * for the caller: *argi is the first argument not consumed. */
#include "config.h"

int chat_program_setup(int argc, char **argv, const char *usage, struct chat_config *cfg,
                       int *argi);

#endif
