#include "wake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* One UDP socket for the whole process, opened on first use and kept for its lifetime
 * (sendto on one datagram socket from several threads is safe). IPv6 with IPv4-mapped
 * addresses reaches both families. */
static int udp_fd = -1;
static pthread_once_t udp_once = PTHREAD_ONCE_INIT;

static void open_udp(void)
{
    udp_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp_fd < 0)
        log_error("wake UDP socket: %s", strerror(errno));
}

int chat_wake_open(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        log_error("wake socket: %s", strerror(errno));
    return fd;
}

bool chat_wake_parse(const char *text, size_t n, struct sockaddr_storage *addr, socklen_t *len)
{
    memset(addr, 0, sizeof(*addr));
    if (n == 0)
        return false;
    if (memchr(text, '/', n)) {
        struct sockaddr_un *un = (struct sockaddr_un *)addr;
        if (n >= sizeof(un->sun_path))
            return false;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, text, n);
        *len = sizeof(*un);
        return true;
    }
    char host[64], *end;
    const char *colon = NULL;
    for (size_t i = n; i-- > 0;)
        if (text[i] == ':') {
            colon = text + i;
            break;
        }
    if (!colon || (size_t)(colon - text) >= sizeof(host) || colon == text)
        return false;
    size_t hlen = (size_t)(colon - text);
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    char port_text[8];
    size_t plen = n - hlen - 1;
    if (plen == 0 || plen >= sizeof(port_text))
        return false;
    memcpy(port_text, colon + 1, plen);
    port_text[plen] = '\0';
    long port = strtol(port_text, &end, 10);
    if (*end || port < 1 || port > 65535)
        return false;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*in6);
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1;
    }
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) != 1)
        return false;
    /* ::ffff:a.b.c.d */
    in6->sin6_addr.s6_addr[10] = 0xff;
    in6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&in6->sin6_addr.s6_addr[12], &v4, 4);
    return true;
}

void chat_wake_send_all(int fd, const struct chat_config *cfg, const void *msg, size_t len,
                        const char *skip)
{
    const char *p = cfg->push_wake_sockets;
    size_t skip_len = skip ? strlen(skip) : 0;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        struct sockaddr_storage addr;
        socklen_t alen;
        if (!(skip && n == skip_len && memcmp(p, skip, n) == 0) &&
            chat_wake_parse(p, n, &addr, &alen)) {
            int out = fd;
            if (addr.ss_family != AF_UNIX) {
                pthread_once(&udp_once, open_udp);
                out = udp_fd;
            }
            if (out >= 0 && sendto(out, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                                   (struct sockaddr *)&addr, alen) < 0)
                log_debug("wake %.*s: %s", (int)n, p, strerror(errno));
        } else if (!skip || n != skip_len || memcmp(p, skip, n) != 0) {
            log_debug("wake: unusable address %.*s", (int)n, p);
        }
        p += n;
    }
}

void chat_wake_push_daemons(int fd, const struct chat_config *cfg)
{
    chat_wake_send_all(fd, cfg, "w", 1, NULL);
}
