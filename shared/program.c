#include "program.h"

#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "netaddr.h"

int chat_program_setup(int argc, char **argv, const char *usage, struct chat_config *cfg,
                       int *argi)
{
    const char *config_path = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            fputs("\n", stdout);
            chat_config_write_help(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config_path = argv[++i];
            continue;
        }
        break;
    }
    *argi = i;
    char err[512];
    if (chat_config_load(cfg, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: configuration error: %s\n", argv[0], err);
        return -1;
    }
    enum chat_log_level level;
    if (chat_log_level_parse(cfg->log_level, &level) != 0) {
        fprintf(stderr, "%s: log_level must be debug, info, warn or error\n", argv[0]);
        chat_config_free(cfg);
        return -1;
    }
    chat_log_set_level(level);
    if (!chat_addr_list_valid(cfg->trusted_proxies, err, sizeof(err))) {
        fprintf(stderr, "%s: configuration error: trusted_proxies: %s\n", argv[0], err);
        chat_config_free(cfg);
        return -1;
    }
    if (chat_crypto_init() != 0) {
        chat_config_free(cfg);
        return -1;
    }
    return 0;
}
