#include "wake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
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

/* The key for sealing UDP datagrams, read once per process (every caller passes the
 * same configuration). */
static unsigned char send_key[CHAT_WAKE_KEY_BYTES];
static bool send_key_ok;
static const char *send_key_path;
static pthread_once_t send_key_once = PTHREAD_ONCE_INIT;

static void load_send_key(void)
{
    char why[160];
    if (!send_key_path || !send_key_path[0])
        log_error("UDP wake-up addresses need push_wake_secret_file; not sending to them");
    else if (!(send_key_ok = chat_wake_key_load(send_key_path, send_key, why, sizeof(why))))
        log_error("push_wake_secret_file: %s; not sending UDP wake-ups", why);
}

bool chat_wake_key_load(const char *path, unsigned char key[CHAT_WAKE_KEY_BYTES], char *why,
                        size_t why_size)
{
    unsigned char secret[4096];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    ssize_t n = read(fd, secret, sizeof(secret));
    close(fd);
    bool ok = false;
    if (st.st_mode & (S_IROTH | S_IWOTH))
        snprintf(why, why_size, "%s is readable or writable by other users (chmod 600)", path);
    else if (n < 32)
        snprintf(why, why_size, "%s holds less than 32 bytes", path);
    else if (sodium_init() < 0)
        snprintf(why, why_size, "libsodium did not initialise");
    else
        ok = crypto_generichash(key, CHAT_WAKE_KEY_BYTES, secret, (size_t)n, NULL, 0) == 0;
    sodium_memzero(secret, sizeof(secret));
    return ok;
}

bool chat_wake_uses_udp(const struct chat_config *cfg)
{
    const char *lists[] = {cfg->push_wake_sockets, cfg->push_wake_bind};
    for (size_t l = 0; l < 2; l++) {
        for (const char *p = lists[l]; *p;) {
            while (*p == ' ')
                p++;
            size_t n = strcspn(p, " ");
            struct sockaddr_storage addr;
            socklen_t alen;
            if (n && chat_wake_parse(p, n, &addr, &alen) && addr.ss_family != AF_UNIX)
                return true;
            p += n;
        }
    }
    return false;
}

size_t chat_wake_seal(const unsigned char key[CHAT_WAKE_KEY_BYTES], const void *msg, size_t len,
                      long long now_ms, unsigned char *out)
{
    out[0] = 'S';
    for (int i = 0; i < 8; i++)
        out[1 + i] = (unsigned char)((unsigned long long)now_ms >> (56 - 8 * i));
    memcpy(out + 9, msg, len);
    crypto_auth(out + 9 + len, out, 9 + len, key);
    return len + CHAT_WAKE_SEAL_BYTES;
}

enum chat_wake_open_status chat_wake_unseal(const unsigned char key[CHAT_WAKE_KEY_BYTES],
                                            const unsigned char *buf, size_t n, long long now_ms,
                                            const unsigned char **msg, size_t *len)
{
    if (n < CHAT_WAKE_SEAL_BYTES || buf[0] != 'S')
        return CHAT_WAKE_OPEN_MALFORMED;
    size_t body = n - crypto_auth_BYTES;
    if (crypto_auth_verify(buf + body, buf, body, key) != 0)
        return CHAT_WAKE_OPEN_BAD_MAC;
    unsigned long long sent = 0;
    for (int i = 0; i < 8; i++)
        sent = sent << 8 | buf[1 + i];
    long long skew = now_ms - (long long)sent;
    if (skew > CHAT_WAKE_MAX_SKEW_MS || skew < -CHAT_WAKE_MAX_SKEW_MS)
        return CHAT_WAKE_OPEN_STALE;
    *msg = buf + 9;
    *len = body - 9;
    return CHAT_WAKE_OPEN_OK;
}

long long chat_wake_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
            const void *data = msg;
            size_t dlen = len;
            unsigned char sealed[4096 + CHAT_WAKE_SEAL_BYTES];
            if (addr.ss_family != AF_UNIX) {
                pthread_once(&udp_once, open_udp);
                send_key_path = cfg->push_wake_secret_file;
                pthread_once(&send_key_once, load_send_key);
                out = send_key_ok && len <= 4096 ? udp_fd : -1;
                if (out >= 0) {
                    dlen = chat_wake_seal(send_key, msg, len, chat_wake_now_ms(), sealed);
                    data = sealed;
                }
            }
            if (out >= 0 && sendto(out, data, dlen, MSG_DONTWAIT | MSG_NOSIGNAL,
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
