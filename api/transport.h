/* Transport helpers below the dispatcher: the HTTP status reason phrases. */
#ifndef CHAT_TRANSPORT_H
#define CHAT_TRANSPORT_H

/* "OK", "Not Found", ... for a status code; "Unknown" for others. */
const char *chat_status_reason(int status);

#endif
