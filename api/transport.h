/* Pieces both transports share: the status reason phrases and reading a static file. */
#ifndef CHAT_TRANSPORT_H
#define CHAT_TRANSPORT_H

/* "OK", "Not Found", ... for a status code; "Unknown" for others. */
const char *chat_status_reason(int status);

#endif
