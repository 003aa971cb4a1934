/* Asking for the current password again before an account change (a new password,
 * deleting the account): the same per-username bucket as logins, so a stolen session
 * cannot guess the password any faster than a login could, and the argon2id gate. */
#ifndef CHAT_REAUTH_H
#define CHAT_REAUTH_H

#include "http.h"

/* CHAT_OK when password is the caller's. Otherwise the error response is already
 * written and returned: 403 wrong_password, 429 from the username's bucket, 503
 * server_busy (every hashing slot taken), or a database error. */
int chat_reauthenticate(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                        const char *password);

#endif
