/* IP addresses and CIDR lists, and the client address behind trusted proxies: pure
 * functions over text, no sockets. */
#ifndef CHAT_NETADDR_H
#define CHAT_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Longest address text written by chat_client_address(), with its NUL (INET6_ADDRSTRLEN). */
#define CHAT_ADDR_CHARS 46

/* Checks a space-separated list of IPv4/IPv6 addresses and CIDR blocks ("10.0.0.0/8",
 * "::1", "fd00::/8"). Returns true, or false with the first bad entry named in err. */
bool chat_addr_list_valid(const char *list, char *err, size_t errlen);

/* True when addr (IPv4 or IPv6 text; an IPv4-mapped IPv6 address counts as its IPv4
 * address) is one of list's entries or inside one of its blocks. A bad entry matches
 * nothing (the list is checked at startup with chat_addr_list_valid). */
bool chat_addr_in_list(const char *addr, const char *list);

/* The client's address for a request: remote (the transport's peer) unless it is in
 * trusted; then the right-most entry of forwarded (the X-Forwarded-For values, comma
 * separated) that is not in trusted. Walking left stops at an entry that is not an
 * address, and the last trusted hop is the client then: whoever wrote the bad entry
 * is not vouched for. An empty trusted list never reads forwarded. Writes at most
 * CHAT_ADDR_CHARS bytes (NUL included) to out. */
void chat_client_address(const char *remote, const char *forwarded, const char *trusted,
                         char out[CHAT_ADDR_CHARS]);

#endif
