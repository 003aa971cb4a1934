#include "wake.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

int chat_wake_open(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        log_error("wake socket: %s", strerror(errno));
    return fd;
}

void chat_wake_push_daemons(int fd, const struct chat_config *cfg)
{
    if (fd < 0)
        return;
    const char *p = cfg->push_wake_sockets;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        if (n < sizeof(addr.sun_path)) {
            memcpy(addr.sun_path, p, n);
            if (sendto(fd, "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&addr,
                       sizeof(addr)) < 0)
                log_debug("wake %s: %s", addr.sun_path, strerror(errno));
        }
        p += n;
    }
}
